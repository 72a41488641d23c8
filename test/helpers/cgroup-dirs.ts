// Directories a test makes under a cgroup hierarchy (kubepods-shaped trees for pod identity), removed
// deepest first at the end.

import { existsSync, mkdirSync, rmdirSync } from 'node:fs'
import { join } from 'node:path'

export class CgroupDirs {
  private readonly made: string[] = []

  /** mkdir -p `root/rel`, remembering each directory it made; returns the deepest. */
  mk(root: string, rel: string): string {
    let d = root
    for (const part of rel.split('/')) {
      d = join(d, part)
      if (!existsSync(d)) {
        mkdirSync(d)
        this.made.push(d)
      }
    }
    return d
  }

  /** rmdir deepest first; one a process is still leaving stays (the names are random: nothing reuses it). */
  removeAll(): void {
    for (const d of this.made.splice(0).reverse()) {
      try {
        rmdirSync(d)
      } catch {
        // a process still exiting
      }
    }
  }
}
