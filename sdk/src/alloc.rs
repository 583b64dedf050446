//! The plugins' allocator: bump allocation from a static arena, then from
//! memory grown on demand.
//!
//! The host gives every evaluation a fresh instance, so a plugin's memory
//! lives exactly as long as one evaluation: there is nothing to gain from
//! reusing freed blocks, only time to lose. Rust's default wasm allocator
//! (dlmalloc) calls `memory.grow` on its first allocation, and in the host
//! every growth costs an `mprotect` (and another to undo it when the slot is
//! reset). Serving small evaluations from an arena in `.bss`, which is part
//! of the module's initial memory, means most evaluations never grow memory.
//!
//! Only the most recent block is really freed or grown in place, which is
//! what `Vec` growth and short-lived temporaries need. Growth beyond the
//! arena still goes through `memory.grow`, so the host's memory limit holds.
//!
//! Enabled by the default `bump-allocator` feature, on wasm32 only. A plugin
//! that wants another allocator disables the feature.
//!
//! A global allocator cannot be written without `unsafe` (`GlobalAlloc` is
//! an unsafe trait): the workspace denies unsafe code everywhere else, and
//! each unsafe item here carries its safety argument.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::{Cell, UnsafeCell};

const PAGE: usize = 64 << 10;
const ARENA_BYTES: usize = 128 << 10;
/// Grow at least this much at a time, so a loop of small allocations past
/// the arena does not grow (and `mprotect`) page by page.
const MIN_GROW_PAGES: usize = 4;

#[repr(C, align(16))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

pub struct BumpAllocator {
    arena: Arena,
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: wasm32-unknown-unknown plugins are single-threaded (no threads,
// no shared memory), so the cells are never touched from two threads.
unsafe impl Sync for BumpAllocator {}

impl BumpAllocator {
    pub const fn new() -> Self {
        Self {
            arena: Arena(UnsafeCell::new([0; ARENA_BYTES])),
            next: Cell::new(0),
            end: Cell::new(0),
        }
    }

    /// Takes fresh pages for at least `bytes`, continuing the current region
    /// when the new pages follow it.
    fn grow(&self, bytes: usize) -> bool {
        let pages = bytes.div_ceil(PAGE);
        let mut granted = core::arch::wasm32::memory_grow(0, pages.max(MIN_GROW_PAGES));
        let mut got = pages.max(MIN_GROW_PAGES);
        if granted == usize::MAX && got > pages {
            granted = core::arch::wasm32::memory_grow(0, pages);
            got = pages;
        }
        if granted == usize::MAX {
            return false;
        }
        let base = granted * PAGE;
        if base != self.end.get() {
            self.next.set(base);
        }
        self.end.set(base + got * PAGE);
        true
    }
}

impl Default for BumpAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every block handed out lies inside the arena or inside pages this
// allocator obtained from `memory.grow`, is aligned as `layout` asks, and
// never overlaps a live block: `next` only moves back over a block that is
// being freed or resized and is the last one handed out.
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.end.get() == 0 {
            let base = self.arena.0.get() as usize;
            self.next.set(base);
            self.end.set(base + ARENA_BYTES);
        }
        let align = layout.align();
        for _ in 0..2 {
            let start = (self.next.get() + align - 1) & !(align - 1);
            if let Some(stop) = start
                .checked_add(layout.size())
                .filter(|stop| *stop <= self.end.get())
            {
                self.next.set(stop);
                return start as *mut u8;
            }
            if !self.grow(layout.size() + align) {
                return core::ptr::null_mut();
            }
        }
        core::ptr::null_mut()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let start = ptr as usize;
        if start + layout.size() == self.next.get() && start + new_size <= self.end.get() {
            self.next.set(start + new_size);
            return ptr;
        }
        // SAFETY: `layout` is valid for `new_size` (the caller's contract),
        // and the two blocks do not overlap: the new one is fresh.
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(all(target_arch = "wasm32", feature = "bump-allocator"))]
#[global_allocator]
static ALLOCATOR: BumpAllocator = BumpAllocator::new();
