;; Exports `main` (a custom entrypoint) and `_start`; both return at once.
;; sum.wasm is this module, assembled (wat2wasm sum.wat). A real module would
;; read its arguments with WASI args_get and print their sum.
(module
  (func $main)
  (export "_start" (func $main))
  (export "main" (func $main)))
