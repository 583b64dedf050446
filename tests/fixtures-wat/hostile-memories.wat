;; Test fixture: a risk scorer, written by hand, with seven helper modules
;; beside its own, each with its own memory and table. Scoring grows every
;; helper's memory by PAGES pages and its table by ELEMENTS elements: each
;; alone well within a plugin's limits, together past them.
;; tests/runtime_hostile.rs puts numbers in for PAGES and ELEMENTS and
;; assembles it with the `wat` crate.
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

  (core module $Hog
    (memory 1)
    (table 1 funcref)
    ;; 1 when both grew, 0 when either was refused.
    (func (export "grow") (param $pages i32) (param $elements i32) (result i32)
      (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
        (then (return (i32.const 0))))
      (if (i32.eq (table.grow (ref.null func) (local.get $elements)) (i32.const -1))
        (then (return (i32.const 0))))
      (i32.const 1))
  )
  (core instance $hog0 (instantiate $Hog))
  (core instance $hog1 (instantiate $Hog))
  (core instance $hog2 (instantiate $Hog))
  (core instance $hog3 (instantiate $Hog))
  (core instance $hog4 (instantiate $Hog))
  (core instance $hog5 (instantiate $Hog))
  (core instance $hog6 (instantiate $Hog))

  (core module $Main
    (import "hog0" "grow" (func $grow0 (param i32 i32) (result i32)))
    (import "hog1" "grow" (func $grow1 (param i32 i32) (result i32)))
    (import "hog2" "grow" (func $grow2 (param i32 i32) (result i32)))
    (import "hog3" "grow" (func $grow3 (param i32 i32) (result i32)))
    (import "hog4" "grow" (func $grow4 (param i32 i32) (result i32)))
    (import "hog5" "grow" (func $grow5 (param i32 i32) (result i32)))
    (import "hog6" "grow" (func $grow6 (param i32 i32) (result i32)))
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
    (data (i32.const 0x100) "hostile-memories")
    (data (i32.const 0x140) "0.1.0")
    (data (i32.const 0x160) "a hostile risk scorer")
    (data (i32.const 0x1000)
      "\00\01\00\00" "\10\00\00\00" "\40\01\00\00" "\05\00\00\00"
      "\02\00\00\00" "\60\01\00\00" "\15\00\00\00")
    (func (export "describe") (result i32) (i32.const 0x1000))
    ;; result<_, string>: ok, from zeroed memory.
    (func (export "validate-params") (param i32 i32) (result i32) (i32.const 0x1100))

    (func (export "score") (param i32 i32 i32 i32) (result i32)
      (if (i32.eqz (call $grow0 (i32.const PAGES) (i32.const ELEMENTS))) (then unreachable))
      (if (i32.eqz (call $grow1 (i32.const PAGES) (i32.const ELEMENTS))) (then unreachable))
      (if (i32.eqz (call $grow2 (i32.const PAGES) (i32.const ELEMENTS))) (then unreachable))
      (if (i32.eqz (call $grow3 (i32.const PAGES) (i32.const ELEMENTS))) (then unreachable))
      (if (i32.eqz (call $grow4 (i32.const PAGES) (i32.const ELEMENTS))) (then unreachable))
      (if (i32.eqz (call $grow5 (i32.const PAGES) (i32.const ELEMENTS))) (then unreachable))
      (if (i32.eqz (call $grow6 (i32.const PAGES) (i32.const ELEMENTS))) (then unreachable))
      ;; ok(risk-assessment): nothing to say, from zeroed memory.
      (i32.const 0x1200))
  )
  (core instance $main (instantiate $Main
      (with "hog0" (instance $hog0))
      (with "hog1" (instance $hog1))
      (with "hog2" (instance $hog2))
      (with "hog3" (instance $hog3))
      (with "hog4" (instance $hog4))
      (with "hog5" (instance $hog5))
      (with "hog6" (instance $hog6))
  ))

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
