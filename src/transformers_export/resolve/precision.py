"""A loaded model's float precision changed in place, one tensor at a time, without holding both copies."""

from __future__ import annotations

from pathlib import Path


def to_dtype_in_place(model, dtype) -> None:
    """Every floating parameter and buffer in `dtype`, converted one at a time.

    The checkpoint's tensors are pages of the memory-mapped safetensors file; once a tensor is converted, its pages
    are handed back (`madvise(MADV_DONTNEED)`), so a bf16 checkpoint widened to fp32 costs the fp32 weights, not
    both. Only pages of a file mapping are handed back: the kernel re-reads them from the file if anything touches
    them again, so no data can be lost.
    """
    file_ranges = _file_mappings()
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point() and tensor.dtype != dtype:
            old = tensor.data
            tensor.data = old.to(dtype)
            _release_file_pages(old, file_ranges)
    model.config.dtype = dtype


def _file_mappings() -> list[tuple[int, int]]:
    """Address ranges of this process that map regular files (Linux; empty elsewhere)."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    ranges = []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            start, end = (int(value, 16) for value in fields[0].split("-"))
            ranges.append((start, end))
    return ranges


def _release_file_pages(tensor, file_ranges) -> None:
    import ctypes
    import mmap

    start = tensor.data_ptr()
    end = start + tensor.numel() * tensor.element_size()
    first, last = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE, end // mmap.PAGESIZE * mmap.PAGESIZE
    if last <= first or not any(low <= first and last <= high for low, high in file_ranges):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise(ctypes.c_void_p(first), ctypes.c_size_t(last - first), 4)  # MADV_DONTNEED
