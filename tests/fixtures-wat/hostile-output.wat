;; Test fixture: a risk scorer, written by hand, whose recommendations are
;; COPIES strings of LEN bytes that all point at the same buffer. The host
;; copies each string out of the guest, so a small memory can hand it
;; COPIES x LEN bytes. tests/runtime_hostile.rs puts numbers in for COPIES
;; and LEN and assembles it with the `wat` crate.
(component
  ;; The `regent:policy/types` interface, as far as a risk scorer uses it,
  ;; imported the way wit-component imports it.
  (type $types-ty
    (instance
      (type (enum "checklist-item" "breaker-condition" "risk-scorer" "task-matcher" "checklist-bundle"))
      (export "plugin-kind" (type (eq 0)))
      (type (record (field "name" string) (field "version" string) (field "kind" 1) (field "summary" string)))
      (export "plugin-info" (type (eq 2)))
      (type (enum "low" "medium" "high" "critical"))
      (export "severity" (type (eq 4)))
      (type s64)
      (export "timestamp" (type (eq 6)))
      (type (record (field "engine" string) (field "event-type" string) (field "severity" 5) (field "occurred-at" 7)))
      (export "governance-event" (type (eq 8)))
      (type (record (field "category" string) (field "score" u32)))
      (export "category-score" (type (eq 10)))
      (type (list 11))
      (type (list string))
      (type (record (field "categories" 12) (field "overall" u32) (field "recommendations" 13)))
      (export "risk-assessment" (type (eq 14)))
    )
  )
  (import "regent:policy/types@0.2.0" (instance $types (type $types-ty)))
  (alias export $types "plugin-info" (type $plugin-info))
  (alias export $types "governance-event" (type $governance-event))
  (alias export $types "risk-assessment" (type $risk-assessment))

  (core module $Main
    (memory (export "memory") 1)
    ;; A bump allocator: the host lowers the events and params through it.
    (global $heap (mut i32) (i32.const 0x8000))
    (func $reserve (param $end i32)
      (local $have i32)
      (local.set $have (i32.mul (memory.size) (i32.const 65536)))
      (if (i32.gt_u (local.get $end) (local.get $have))
        (then
          (if (i32.eq
                (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (local.get $have)) (i32.const 16)) (i32.const 1)))
                (i32.const -1))
            (then unreachable)))))
    (func $alloc (param $align i32) (param $size i32) (result i32)
      (local $ptr i32)
      (local.set $ptr
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
      (call $reserve (global.get $heap))
      (local.get $ptr))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (call $alloc (local.get 2) (local.get 3)))

    ;; describe's plugin-info as the canonical ABI lays it out: name and
    ;; version (pointer, length), kind (risk-scorer), summary.
    (data (i32.const 0x100) "hostile-output")
    (data (i32.const 0x140) "0.1.0")
    (data (i32.const 0x160) "a hostile risk scorer")
    (data (i32.const 0x1000)
      "\00\01\00\00" "\0e\00\00\00" "\40\01\00\00" "\05\00\00\00"
      "\02\00\00\00" "\60\01\00\00" "\15\00\00\00")
    (func (export "describe") (result i32) (i32.const 0x1000))
    ;; result<_, string>: ok, from zeroed memory.
    (func (export "validate-params") (param i32 i32) (result i32) (i32.const 0x1100))

    (func (export "score") (param i32 i32 i32 i32) (result i32)
      (local $buffer i32) (local $list i32) (local $i i32) (local $out i32)
      (local.set $buffer (call $alloc (i32.const 1) (i32.const LEN)))
      (memory.fill (local.get $buffer) (i32.const 0x41) (i32.const LEN))
      (local.set $list (call $alloc (i32.const 4) (i32.mul (i32.const COPIES) (i32.const 8))))
      (block $done
        (loop $each
          (br_if $done (i32.ge_u (local.get $i) (i32.const COPIES)))
          (i32.store (i32.add (local.get $list) (i32.mul (local.get $i) (i32.const 8))) (local.get $buffer))
          (i32.store offset=4 (i32.add (local.get $list) (i32.mul (local.get $i) (i32.const 8))) (i32.const LEN))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $each)))
      ;; ok(risk-assessment): no categories, overall 0, the recommendations.
      (local.set $out (call $alloc (i32.const 4) (i32.const 24)))
      (i32.store offset=0 (local.get $out) (i32.const 0))
      (i32.store offset=4 (local.get $out) (i32.const 0))
      (i32.store offset=8 (local.get $out) (i32.const 0))
      (i32.store offset=12 (local.get $out) (i32.const 0))
      (i32.store offset=16 (local.get $out) (local.get $list))
      (i32.store offset=20 (local.get $out) (i32.const COPIES))
      (local.get $out))
  )
  (core instance $main (instantiate $Main))

  (alias core export $main "memory" (core memory $memory))
  (alias core export $main "cabi_realloc" (core func $realloc))
  (func $describe (result $plugin-info)
    (canon lift (core func $main "describe") (memory $memory) (realloc $realloc) string-encoding=utf8))
  (func $validate-params (param "params" string) (result (result (error string)))
    (canon lift (core func $main "validate-params") (memory $memory) (realloc $realloc) string-encoding=utf8))
  (func $score (param "events" (list $governance-event)) (param "params" string)
    (result (result $risk-assessment (error string)))
    (canon lift (core func $main "score") (memory $memory) (realloc $realloc) string-encoding=utf8))
  (export "describe" (func $describe))
  (export "validate-params" (func $validate-params))
  (export "score" (func $score))
)
