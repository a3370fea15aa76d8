// The CID of each PATH (file or directory) as js-ipfs/Helia's importer gives it, with
// kubo's options for `ipfs add --cid-version=1`: raw leaves, 262,144-byte chunks,
// balanced DAG of at most 174 links, a single leaf is its own root, directories whose
// names and CIDs add up to more than 256 KiB sharded as HAMTs of fanout 256. One line
// per path: `CID<TAB>PATH`. Hidden files are included; symlinks are stored, not
// followed. Blocks are discarded: only the CIDs matter here.
//
// --shard-threshold=BYTES shards directories over BYTES instead (tests use it to have
// this importer build a shard where its own size estimate would not: it leaves out
// subdirectories that have entries, kubo counts them).
//
// usage: node unixfs-hash.mjs [--shard-threshold=BYTES] PATH...
import { createReadStream } from 'node:fs'
import { lstat, readdir, readlink } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

const options = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize: 262144 }),
  layout: balanced({ maxChildrenPerNode: 174 }),
  shardSplitThresholdBytes: 262144,
  shardSplitStrategy: 'links-bytes',
  shardFanoutBits: 8,
  wrapWithDirectory: false
}

let paths = process.argv.slice(2)
const threshold = paths.find((arg) => arg.startsWith('--shard-threshold='))
if (threshold !== undefined) {
  options.shardSplitThresholdBytes = Number(threshold.split('=')[1])
  paths = paths.filter((arg) => arg !== threshold)
}

const discard = {
  put: async (cid) => cid,
  get: async () => { throw new Error('discarding blockstore') },
  has: async () => false
}

async function * candidates (path, name) {
  const stat = await lstat(path)
  if (stat.isSymbolicLink()) {
    yield { path: name, link: await readlink(path) }
  } else if (stat.isDirectory()) {
    yield { path: name }
    for (const child of (await readdir(path)).sort()) {
      yield * candidates(join(path, child), `${name}/${child}`)
    }
  } else {
    yield { path: name, content: createReadStream(path) }
  }
}

for (const path of paths) {
  const stat = await lstat(path)
  const name = basename(path)
  let root
  if (stat.isDirectory()) {
    for await (const entry of importer(candidates(path, name), discard, options)) {
      if (entry.path === name) root = entry.cid
    }
  } else {
    for await (const entry of importer([{ content: createReadStream(path) }], discard, options)) {
      root = entry.cid
    }
  }
  process.stdout.write(`${root.toString()}\t${path}\n`)
}
