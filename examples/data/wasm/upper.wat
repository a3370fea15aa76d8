;; Uppercases /data/words.txt: writes the result to stdout and to /outputs/UPPER.TXT.
;; A WASI command written in WebAssembly text; jobc lowers it to a binary module.
;; The runner preopens folders as fds 3, 4, … in the order of their paths: here
;; /data (the input's folder) is fd 3 and /outputs is fd 4.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0: the input's fd; 4: the output's fd; 8: bytes read or written; 16, 32: names;
  ;; 64: one iovec {buffer, length}; 1024: a 4 KiB buffer.
  (data (i32.const 16) "words.txt")
  (data (i32.const 32) "UPPER.TXT")

  ;; Exit with 100 + errno when a WASI call fails.
  (func $check (param $errno i32)
    (if (local.get $errno)
      (then (call $proc_exit (i32.add (i32.const 100) (local.get $errno))))))

  (func $write (param $fd i32) (param $length i32)
    (i32.store (i32.const 64) (i32.const 1024))
    (i32.store (i32.const 68) (local.get $length))
    (call $check (call $fd_write (local.get $fd) (i32.const 64) (i32.const 1) (i32.const 8))))

  (func (export "_start")
    (local $n i32) (local $i i32) (local $c i32)
    ;; open /data/words.txt to read (right fd_read), /outputs/UPPER.TXT to write
    ;; (oflags creat|trunc, right fd_write)
    (call $check (call $path_open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 9)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
    (call $check (call $path_open (i32.const 4) (i32.const 0) (i32.const 32) (i32.const 9)
      (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 4)))
    (block $end
      (loop $chunk
        (i32.store (i32.const 64) (i32.const 1024))
        (i32.store (i32.const 68) (i32.const 4096))
        (call $check
          (call $fd_read (i32.load (i32.const 0)) (i32.const 64) (i32.const 1) (i32.const 8)))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $end (i32.eqz (local.get $n)))
        (local.set $i (i32.const 0))
        (block $done
          (loop $byte
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $c (i32.load8_u (i32.add (i32.const 1024) (local.get $i))))
            (if (i32.and (i32.ge_u (local.get $c) (i32.const 97))
                         (i32.le_u (local.get $c) (i32.const 122)))
              (then (i32.store8 (i32.add (i32.const 1024) (local.get $i))
                                (i32.sub (local.get $c) (i32.const 32)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $byte)))
        (call $write (i32.const 1) (local.get $n))
        (call $write (i32.load (i32.const 4)) (local.get $n))
        (br $chunk)))))
