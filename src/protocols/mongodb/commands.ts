// Command names: the method of a MongoDB exchange is the command (the first element of the command
// document). The server matches some names case-insensitively (isMaster/ismaster, findAndModify/
// findandmodify, buildInfo/buildinfo, mapReduce/mapreduce), so known ones are written one way; unknown
// ones are kept as sent when they look like a name, else 'unknown' (metrics cap methods per server).
// Spec: https://www.mongodb.com/docs/manual/reference/command/

/** commands whose first element's value is the collection they act on (find: "users") */
const COLLECTION_COMMANDS = [
  'find', 'insert', 'update', 'delete', 'aggregate', 'count', 'distinct', 'findAndModify', 'mapReduce',
  'create', 'drop', 'createIndexes', 'dropIndexes', 'listIndexes', 'collStats', 'collMod', 'killCursors',
  'validate', 'compact', 'reIndex', 'convertToCapped', 'cloneCollectionAsCapped', 'geoNear', 'geoSearch',
  'group', 'parallelCollectionScan', 'explain', 'analyze', 'bulkWrite', 'cleanupOrphaned', 'dataSize',
]

/** other commands written the usual way */
const OTHER_COMMANDS = [
  'getMore', 'hello', 'isMaster', 'buildInfo', 'ping', 'saslStart', 'saslContinue', 'authenticate', 'logout',
  'getnonce', 'endSessions', 'startSession', 'killSessions', 'refreshSessions', 'commitTransaction',
  'abortTransaction', 'listCollections', 'listDatabases', 'dropDatabase', 'getLastError', 'getLog',
  'getCmdLineOpts', 'getParameter', 'setParameter', 'serverStatus', 'replSetGetStatus', 'whatsmyuri',
  'dbStats', 'connectionStatus', 'currentOp', 'killOp', 'hostInfo', 'listCommands', 'usersInfo', 'rolesInfo',
  'createUser', 'updateUser', 'dropUser', 'getFreeMonitoringStatus', 'getDefaultRWConcern', 'shutdown',
  'renameCollection', 'shardCollection', 'enableSharding', 'fsync', 'profile', 'top', 'features',
  'connPoolStats', 'atlasVersion', 'getShardVersion', 'replSetHeartbeat', 'replSetUpdatePosition',
]

const CANONICAL = new Map<string, string>()
for (const c of [...COLLECTION_COMMANDS, ...OTHER_COMMANDS]) CANONICAL.set(c.toLowerCase(), c)
const ON_COLLECTION = new Set(COLLECTION_COMMANDS)

/** command names are identifiers: letters first, then letters, digits, '_' (bounded length) */
const NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/

/** the method for a command document's first element name */
export function commandMethod(first: string | undefined): string {
  if (first === undefined) return 'unknown'
  const known = CANONICAL.get(first.toLowerCase())
  if (known !== undefined) return known
  return NAME.test(first) ? first : 'unknown'
}

/**
 * Does this command's first element name its collection? Only known ones: the first value of other
 * commands is something else (getLog: "global", createUser: a user name) and never goes in a record.
 */
export function actsOnCollection(method: string): boolean {
  return ON_COLLECTION.has(method)
}

/** a collection or database name fit for a record: printable, no NUL, bounded */
export function nameOk(s: string | undefined): s is string {
  if (s === undefined || s.length === 0 || s.length > 255) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return false
  }
  return true
}
