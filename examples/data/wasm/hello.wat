;; The smallest WASI command: exports _start, which returns at once (exit code 0).
;; hello.wasm is this module, assembled (wat2wasm hello.wat).
(module
  (func $start)
  (export "_start" (func $start)))
