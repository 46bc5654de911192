"""One file's VMAs in one process, the i_mmap operations that change them, and the ELF loaders.

A mapping call is simulated as an interval operation on the file's VMAs, each with its
protection, and yields the i_mmap ops the kernel's mm/vma.c performs for it (each op is one
acquisition of the file's i_mmap lock under mainline):

- mmap with MAP_FIXED over mapped pages: split the VMA that extends beyond either end of the
  range (__split_vma: one SPLIT each, the start first), unlink the pieces it replaces (one
  UNLINK_BATCH per unlink_file_vma_batch), then merge the new range into an adjacent VMA of the
  same protection (vma_expand: one MERGE) if there is one, else link a new VMA (vma_link_file).
  The kernel merges only VMAs of one file with contiguous offsets; the model maps a file at
  addresses that follow its offsets, so adjacency is the test. It merges with the previous VMA,
  else the next, never with both (a three-way merge would leave one VMA less).
- munmap: the same splits, then the unlinks.
- mprotect: the same splits, and the range takes the new protection without merging: the only
  mprotect here is RELRO's, whose range never merges with the read-only segment before it on a
  real system (the RW segment's file offset is not page-contiguous with that segment's end, as
  /proc/self/maps shows), although the model's offsets are.
- teardown (exit_mmap, exec_mmap's mmput): free_pgtables unlinks a file's consecutive VMAs
  together, up to KernelSpec.unlink_batch (8 since 6.11, one before) per lock hold.
- dup (dup_mmap at fork): one DUP per VMA, each under its own lock hold.
"""

from __future__ import annotations

from typing import Callable

from orchestrator.sim import ops
from orchestrator.spec.workload import MappedFile

Vma = tuple[int, int, int]  # (id, first pgoff, last pgoff), as the i_mmap ops carry it


class Ids:
    """VMA ids of one copy: unique across copies, deterministic."""

    def __init__(self, slot: int):
        self.next = (slot + 1) << 40

    def __call__(self) -> int:
        self.next += 1
        return self.next


class Mappings:
    """The VMAs one process has of one file, in offset order, each with its protection."""

    def __init__(self, file: int, ids: Ids, batch: int, vmas: list[tuple[Vma, str]] | None = None,
                 faulted: bool = False):
        self.file = file        # the file's handle, as the i_mmap ops name it
        self.ids = ids          # where new VMAs get their ids
        self.batch = batch      # VMAs unlinked per lock hold (KernelSpec.unlink_batch)
        self.vmas: list[tuple[Vma, str]] = vmas or []
        self.faulted = faulted  # whether the file's pages are mapped in (by faults since its exec)

    def spans(self) -> list[tuple[int, int, str]]:
        return [(first, last, prot) for (_, first, last), prot in self.vmas]

    # ---- the calls ---------------------------------------------------------------------------

    def mmap(self, first: int, last: int, prot: str) -> list[tuple]:
        """mmap of pages [first, last] (MAP_FIXED: whatever is mapped there goes first)."""
        out = self.munmap(first, last)
        before = self._at(first - 1)
        after = self._at(last + 1)
        if before is not None and self.vmas[before][1] == prot:
            return out + self._expand(before, (self.vmas[before][0][1], last))
        if after is not None and self.vmas[after][1] == prot:
            return out + self._expand(after, (first, self.vmas[after][0][2]))
        vma = (self.ids(), first, last)
        self.vmas.insert(self._insertion_point(first), (vma, prot))
        return out + [(ops.IMMAP, ops.LINK, self.file, vma)]

    def munmap(self, first: int, last: int) -> list[tuple]:
        """munmap of pages [first, last]: split at its ends, unlink what lies inside."""
        out, inside = self._cut(first, last, anon=False)
        gone = [self.vmas[i][0] for i in inside]
        self.vmas = [v for i, v in enumerate(self.vmas) if i not in inside]
        return out + self._unlink(gone)

    def mprotect(self, first: int, last: int, prot: str, anon: bool) -> list[tuple]:
        """mprotect of pages [first, last]: split at its ends; `anon`: the VMA has anonymous pages
        (a private mapping written to), whose anon_vma the split locks too."""
        out, inside = self._cut(first, last, anon)
        for i in inside:
            self.vmas[i] = (self.vmas[i][0], prot)
        return out

    def teardown(self) -> list[tuple]:
        """exit_mmap: every VMA of the file goes, in batches."""
        gone = [vma for vma, _ in self.vmas]
        self.vmas, self.faulted = [], False
        return self._unlink(gone)

    def dup(self, ids: Ids) -> tuple[list[tuple], Mappings]:
        """dup_mmap: the child's copy of each VMA goes into the tree beside its parent. The child's
        page tables get none of the file's pages (copy_page_range skips a VMA without anonymous
        pages; one with them holds anonymous copies)."""
        child = Mappings(self.file, ids, self.batch)
        out = []
        for vma, prot in self.vmas:
            copy = (ids(), vma[1], vma[2])
            out.append((ops.IMMAP, ops.DUP, self.file, vma, copy))
            child.vmas.append((copy, prot))
        return out, child

    # ---- the steps ---------------------------------------------------------------------------

    def _at(self, pgoff: int) -> int | None:
        """The index of the VMA that maps page `pgoff`, if one does."""
        for i, ((_, first, last), _) in enumerate(self.vmas):
            if first <= pgoff <= last:
                return i
        return None

    def _insertion_point(self, first: int) -> int:
        return sum(1 for (_, start, _), _ in self.vmas if start < first)

    def _split(self, index: int, at: int, anon: bool) -> tuple:
        """__split_vma at page `at`: the VMA keeps the low part, a new VMA takes the high part."""
        old, prot = self.vmas[index]
        low, high = (old[0], old[1], at - 1), (self.ids(), at, old[2])
        self.vmas[index:index + 1] = [(low, prot), (high, prot)]
        return (ops.IMMAP, ops.SPLIT, self.file, old, low, high, anon)

    def _cut(self, first: int, last: int, anon: bool) -> tuple[list[tuple], list[int]]:
        """Split the VMAs that extend beyond [first, last] (at its start, then at its end); the
        indices of the VMAs inside it."""
        out = []
        start = self._at(first)
        if start is not None and self.vmas[start][0][1] < first:
            out.append(self._split(start, first, anon))
        end = self._at(last)
        if end is not None and self.vmas[end][0][2] > last:
            out.append(self._split(end, last + 1, anon))
        inside = [i for i, ((_, lo, hi), _) in enumerate(self.vmas) if first <= lo and hi <= last]
        return out, inside

    def _expand(self, index: int, span: tuple[int, int]) -> list[tuple]:
        """vma_expand: the VMA keeps its id; its interval becomes `span`."""
        old, prot = self.vmas[index]
        new = (old[0], *span)
        self.vmas[index] = (new, prot)
        return [(ops.IMMAP, ops.MERGE, self.file, old, new)]

    def _unlink(self, gone: list[Vma]) -> list[tuple]:
        return [(ops.IMMAP, ops.UNLINK_BATCH, self.file, tuple(gone[i:i + self.batch]))
                for i in range(0, len(gone), self.batch)]


# ---- the ELF loaders: who maps a file, and how ------------------------------------------------

def segment_bounds(f: MappedFile) -> list[int]:
    """Start pgoff of each segment, then the end of the file's data."""
    bounds = [0]
    for pages in f.segments_pages:
        bounds.append(bounds[-1] + pages)
    return bounds


def load_by_kernel(f: MappedFile, m: Mappings) -> list[tuple]:
    """load_elf_binary / load_elf_interp of an ET_DYN image (fs/binfmt_elf.c, elf_load and
    elf_map): the first PT_LOAD is mapped with the image's total size, vm_munmap drops the excess
    (the bss with it: vm_brk_flags maps that anonymously), then every other PT_LOAD is mapped at
    its address."""
    bounds, prots, end = segment_bounds(f), f.segment_protections, f.extent - 1
    out = m.mmap(0, end, prots[0])
    if bounds[1] <= end:
        out += m.munmap(bounds[1], end)
    for i in range(1, len(prots)):
        out += m.mmap(bounds[i], bounds[i + 1] - 1, prots[i])
    return out


def load_at_fixed_addresses(f: MappedFile, m: Mappings) -> list[tuple]:
    """load_elf_binary of an ET_EXEC image (a non-PIE static binary): every PT_LOAD at its own
    address (MAP_FIXED_NOREPLACE), no whole-extent mapping; the bss is anonymous."""
    bounds, prots = segment_bounds(f), f.segment_protections
    out: list[tuple] = []
    for i, prot in enumerate(prots):
        out += m.mmap(bounds[i], bounds[i + 1] - 1, prot)
    return out


def map_segments(f: MappedFile, m: Mappings) -> list[tuple]:
    """ld.so's _dl_map_segments (glibc elf/dl-map-segments.h): one mmap of the whole extent with
    the first segment's protection, then a MAP_FIXED mmap of every later segment over it, then
    the bss: an anonymous MAP_FIXED mapping over the rest of the extent (its file VMA goes)."""
    bounds, prots, end = segment_bounds(f), f.segment_protections, f.extent - 1
    out = m.mmap(0, end, prots[0])
    for i in range(1, len(prots)):
        out += m.mmap(bounds[i], bounds[i + 1] - 1, prots[i])
    if f.bss_pages:
        out += m.munmap(f.pages, end)
    return out


def map_whole(f: MappedFile, m: Mappings) -> list[tuple]:
    """A data file mapped read-only in one piece: ld.so's _dl_load_cache_lookup maps
    /etc/ld.so.cache (glibc elf/dl-cache.c), _dl_unload_cache unmaps it (unmap_whole)."""
    return m.mmap(0, f.pages - 1, "r")


def unmap_whole(f: MappedFile, m: Mappings) -> list[tuple]:
    return m.munmap(0, f.extent - 1)


LOADERS: dict[str, Callable[[MappedFile, Mappings], list[tuple]]] = {
    "kernel": load_by_kernel, "kernel-fixed": load_at_fixed_addresses, "ld.so": map_segments,
    "transient": map_whole}


def protect_relro(f: MappedFile, m: Mappings) -> list[tuple]:
    """_dl_protect_relro: mprotect of the RELRO head of the last segment to read-only, after
    relocation wrote it (the VMA has anonymous pages)."""
    if not f.relro_pages:
        return []
    start = segment_bounds(f)[-2]
    return m.mprotect(start, start + f.relro_pages - 1, "r", anon=True)


def final_layout(f: MappedFile) -> list[tuple[int, int, str]]:
    """(first, last, protection) of the VMAs a loaded file leaves: its loader's, then RELRO's."""
    scratch = Mappings(-1, Ids(-2), 1)
    LOADERS[f.loader](f, scratch)
    protect_relro(f, scratch)
    return scratch.spans()
