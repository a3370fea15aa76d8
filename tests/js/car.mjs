// CARv1 files through @ipld/car (the reader and writer js-ipfs and Helia use), to check
// jobc's CARs against an independent implementation.
//
//   node car.mjs read FILE.car
//     prints JSON: the roots, each block's CID and codec, whether its bytes hash to its
//     CID (sha2-256, checked here with multiformats), and the root block decoded as
//     DAG-CBOR (its links as CID strings).
//   node car.mjs rewrite IN.car OUT.car [--drop-root]
//     writes IN's blocks to OUT in reverse order with CarWriter; --drop-root leaves the
//     root block out and names the root block's `finals` as roots instead.
import { open, readFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { CarReader, CarWriter } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

function plain (value) {
  const cid = CID.asCID(value)
  if (cid) return { '/': cid.toString() }
  if (value instanceof Uint8Array) return { '/': { bytes: Buffer.from(value).toString('base64') } }
  if (Array.isArray(value)) return value.map(plain)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
  }
  return value
}

async function read (path) {
  const reader = await CarReader.fromBytes(await readFile(path))
  const roots = await reader.getRoots()
  const blocks = []
  for await (const { cid, bytes } of reader.blocks()) {
    const digest = await sha256.digest(bytes)
    blocks.push({
      cid: cid.toString(),
      codec: cid.code,
      ok: cid.multihash.code === sha256.code && Buffer.compare(digest.digest, cid.multihash.digest) === 0
    })
  }
  const root = roots.length ? await reader.get(roots[0]) : undefined
  return {
    version: reader.version,
    roots: roots.map(String),
    blocks,
    root: root && root.cid.code === dagCbor.code ? plain(dagCbor.decode(root.bytes)) : null
  }
}

async function rewrite (input, output, dropRoot) {
  const reader = await CarReader.fromBytes(await readFile(input))
  let roots = await reader.getRoots()
  const blocks = []
  for await (const block of reader.blocks()) blocks.push(block)
  if (dropRoot) {
    const root = await reader.get(roots[0])
    roots = dagCbor.decode(root.bytes).finals.map((c) => CID.asCID(c))
    blocks.splice(blocks.findIndex((b) => b.cid.equals(root.cid)), 1)
  }
  const { writer, out } = CarWriter.create(roots)
  const file = await open(output, 'w')
  const done = Readable.from(out).forEach((chunk) => file.write(chunk))
  for (const block of blocks.reverse()) await writer.put(block)
  await writer.close()
  await done
  await file.close()
}

const [command, ...args] = process.argv.slice(2)
if (command === 'read') {
  console.log(JSON.stringify(await read(args[0])))
} else if (command === 'rewrite') {
  await rewrite(args[0], args[1], args.includes('--drop-root'))
} else {
  console.error('usage: node car.mjs read FILE.car | rewrite IN.car OUT.car [--drop-root]')
  process.exit(2)
}
