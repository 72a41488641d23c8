// MySQL / MariaDB client/server protocol numbers, by their spec names.
// https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
// https://mariadb.com/kb/en/clientserver-protocol/

/** Command bytes: the first payload byte of a command packet (sequence id 0). my_command.h */
export const enum Cmd {
  Sleep = 0x00, // server-internal state; a client never sends it
  Quit = 0x01,
  InitDb = 0x02,
  Query = 0x03,
  FieldList = 0x04,
  CreateDb = 0x05,
  DropDb = 0x06,
  Refresh = 0x07,
  Shutdown = 0x08,
  Statistics = 0x09,
  ProcessInfo = 0x0a,
  Connect = 0x0b,
  ProcessKill = 0x0c,
  Debug = 0x0d,
  Ping = 0x0e,
  Time = 0x0f,
  DelayedInsert = 0x10,
  ChangeUser = 0x11,
  BinlogDump = 0x12,
  TableDump = 0x13,
  ConnectOut = 0x14,
  RegisterSlave = 0x15,
  StmtPrepare = 0x16,
  StmtExecute = 0x17,
  StmtSendLongData = 0x18,
  StmtClose = 0x19,
  StmtReset = 0x1a,
  SetOption = 0x1b,
  StmtFetch = 0x1c,
  Daemon = 0x1d,
  BinlogDumpGtid = 0x1e,
  ResetConnection = 0x1f,
  Clone = 0x20, // MySQL 8.0.17
  SubscribeGroupReplicationStream = 0x21, // MySQL 8.0.36
  StmtBulkExecute = 0xfa, // MariaDB 10.2
}

/** `method` for commands that are not SQL text: the command name without COM_. */
export const COMMAND_NAMES: ReadonlyMap<number, string> = new Map<number, string>([
  [Cmd.Sleep, 'SLEEP'],
  [Cmd.Quit, 'QUIT'],
  [Cmd.InitDb, 'INIT_DB'],
  [Cmd.Query, 'QUERY'],
  [Cmd.FieldList, 'FIELD_LIST'],
  [Cmd.CreateDb, 'CREATE_DB'],
  [Cmd.DropDb, 'DROP_DB'],
  [Cmd.Refresh, 'REFRESH'],
  [Cmd.Shutdown, 'SHUTDOWN'],
  [Cmd.Statistics, 'STATISTICS'],
  [Cmd.ProcessInfo, 'PROCESS_INFO'],
  [Cmd.Connect, 'CONNECT'],
  [Cmd.ProcessKill, 'PROCESS_KILL'],
  [Cmd.Debug, 'DEBUG'],
  [Cmd.Ping, 'PING'],
  [Cmd.Time, 'TIME'],
  [Cmd.DelayedInsert, 'DELAYED_INSERT'],
  [Cmd.ChangeUser, 'CHANGE_USER'],
  [Cmd.BinlogDump, 'BINLOG_DUMP'],
  [Cmd.TableDump, 'TABLE_DUMP'],
  [Cmd.ConnectOut, 'CONNECT_OUT'],
  [Cmd.RegisterSlave, 'REGISTER_SLAVE'],
  [Cmd.StmtPrepare, 'STMT_PREPARE'],
  [Cmd.StmtExecute, 'STMT_EXECUTE'],
  [Cmd.StmtSendLongData, 'STMT_SEND_LONG_DATA'],
  [Cmd.StmtClose, 'STMT_CLOSE'],
  [Cmd.StmtReset, 'STMT_RESET'],
  [Cmd.SetOption, 'SET_OPTION'],
  [Cmd.StmtFetch, 'STMT_FETCH'],
  [Cmd.Daemon, 'DAEMON'],
  [Cmd.BinlogDumpGtid, 'BINLOG_DUMP_GTID'],
  [Cmd.ResetConnection, 'RESET_CONNECTION'],
  [Cmd.Clone, 'CLONE'],
  [Cmd.SubscribeGroupReplicationStream, 'SUBSCRIBE_GROUP_REPLICATION_STREAM'],
  [Cmd.StmtBulkExecute, 'STMT_BULK_EXECUTE'],
])

/** Capability flags (CLIENT_*), lower 32 bits. include/mysql_com.h */
export const Cap = {
  LONG_PASSWORD: 0x1, // MariaDB: CLIENT_MYSQL when set by a MySQL server
  CONNECT_WITH_DB: 0x8,
  COMPRESS: 0x20,
  LOCAL_FILES: 0x80,
  PROTOCOL_41: 0x200,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x10000,
  MULTI_RESULTS: 0x20000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x200000,
  DEPRECATE_EOF: 0x1000000,
  OPTIONAL_RESULTSET_METADATA: 0x2000000,
  ZSTD_COMPRESSION: 0x4000000,
  QUERY_ATTRIBUTES: 0x8000000,
} as const

/** Server status flags (SERVER_*) in OK and EOF packets. include/mysql_com.h */
export const Status = {
  IN_TRANS: 0x1,
  AUTOCOMMIT: 0x2,
  MORE_RESULTS_EXISTS: 0x8,
  CURSOR_EXISTS: 0x40,
  LAST_ROW_SENT: 0x80,
  PS_OUT_PARAMS: 0x1000,
} as const

/** First payload byte of server packets. */
export const enum Hdr {
  Ok = 0x00,
  AuthMoreData = 0x01,
  LocalInfile = 0xfb,
  Eof = 0xfe, // also AuthSwitchRequest during auth, and the OK that ends a result set under DEPRECATE_EOF
  Err = 0xff,
}

/** The payload length that says "this message continues in the next packet" (16 MiB - 1). */
export const MAX_PACKET_PAYLOAD = 0xffffff

/** Initial handshake packet protocol version (v10 since MySQL 3.21). */
export const HANDSHAKE_V10 = 10

/**
 * Symbolic names of common server error codes (include/mysqld_error.h). Codes below 1800 are shared by
 * MySQL and MariaDB; above that the two number their errors differently, so none are named here.
 * Only a trace attribute: `status` is always the number, see parser.ts. Checked against MariaDB 10.11's
 * include/mysqld_error.h.
 */
export const ERROR_NAMES: ReadonlyMap<number, string> = new Map<number, string>([
  [1040, 'ER_CON_COUNT_ERROR'],
  [1044, 'ER_DBACCESS_DENIED_ERROR'],
  [1045, 'ER_ACCESS_DENIED_ERROR'],
  [1046, 'ER_NO_DB_ERROR'],
  [1047, 'ER_UNKNOWN_COM_ERROR'],
  [1048, 'ER_BAD_NULL_ERROR'],
  [1049, 'ER_BAD_DB_ERROR'],
  [1050, 'ER_TABLE_EXISTS_ERROR'],
  [1051, 'ER_BAD_TABLE_ERROR'],
  [1053, 'ER_SERVER_SHUTDOWN'],
  [1054, 'ER_BAD_FIELD_ERROR'],
  [1062, 'ER_DUP_ENTRY'],
  [1064, 'ER_PARSE_ERROR'],
  [1065, 'ER_EMPTY_QUERY'],
  [1105, 'ER_UNKNOWN_ERROR'],
  [1130, 'ER_HOST_NOT_PRIVILEGED'],
  [1142, 'ER_TABLEACCESS_DENIED_ERROR'],
  [1146, 'ER_NO_SUCH_TABLE'],
  [1149, 'ER_SYNTAX_ERROR'],
  [1153, 'ER_NET_PACKET_TOO_LARGE'],
  [1158, 'ER_NET_READ_ERROR'],
  [1205, 'ER_LOCK_WAIT_TIMEOUT'],
  [1213, 'ER_LOCK_DEADLOCK'],
  [1226, 'ER_USER_LIMIT_REACHED'],
  [1227, 'ER_SPECIFIC_ACCESS_DENIED_ERROR'],
  [1243, 'ER_UNKNOWN_STMT_HANDLER'],
  [1264, 'ER_WARN_DATA_OUT_OF_RANGE'],
  [1290, 'ER_OPTION_PREVENTS_STATEMENT'],
  [1292, 'ER_TRUNCATED_WRONG_VALUE'],
  [1295, 'ER_UNSUPPORTED_PS'],
  [1305, 'ER_SP_DOES_NOT_EXIST'],
  [1317, 'ER_QUERY_INTERRUPTED'],
  [1364, 'ER_NO_DEFAULT_FOR_FIELD'],
  [1366, 'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD'],
  [1406, 'ER_DATA_TOO_LONG'],
  [1451, 'ER_ROW_IS_REFERENCED_2'],
  [1452, 'ER_NO_REFERENCED_ROW_2'],
  [1461, 'ER_MAX_PREPARED_STMT_COUNT_REACHED'],
])
