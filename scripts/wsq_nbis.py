#!/usr/bin/env python3
"""Reference WSQ codec for interop tests: NIST NBIS through the PyPI `wsq` package.

Usage (run with the venv made by scripts/wsq-interop.sh):
  wsq_nbis.py encode IN.(pgm|png) OUT.wsq      # NBIS encode; prints JSON {bytes, ...}
  wsq_nbis.py decode IN.wsq OUT.pgm            # NBIS decode; prints JSON {width, height, ppi}
  wsq_nbis.py bench IN.(pgm|png) ITERATIONS    # prints JSON {encode_ms, decode_ms, bytes}

The package's C wrapper always encodes at 0.75 bits per pixel and 500 ppi with no comment
text (it ignores the rate argument), so that is the only rate NBIS is compared at.
"""

import json
import sys
import time

import _wsq  # C extension of the `wsq` package: NBIS wsq_encode_mem / wsq_decode_mem
from PIL import Image

NBIS_BITRATE = 0.75


def load_gray(path):
    img = Image.open(path)
    if img.mode != "L":
        img = img.convert("L")
    return img.tobytes(), img.size


def nbis_encode(pixels, size):
    width, height = size
    # Arguments are (pixels, rows, cols, rate); the rate is fixed inside the wrapper.
    return _wsq.compress(pixels, height, width, NBIS_BITRATE)


def cmd_encode(src, dst):
    pixels, size = load_gray(src)
    data = nbis_encode(pixels, size)
    with open(dst, "wb") as f:
        f.write(data)
    return {"bytes": len(data), "width": size[0], "height": size[1], "bitrate": NBIS_BITRATE}


def cmd_decode(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    pixels, width, height, ppi = _wsq.decompress(data)
    Image.frombytes("L", (width, height), pixels).save(dst)
    return {"width": width, "height": height, "ppi": ppi}


def cmd_bench(src, iterations):
    pixels, size = load_gray(src)
    data = nbis_encode(pixels, size)  # warm-up
    _wsq.decompress(data)
    start = time.perf_counter()
    for _ in range(iterations):
        data = nbis_encode(pixels, size)
    encode_ms = (time.perf_counter() - start) * 1000.0 / iterations
    start = time.perf_counter()
    for _ in range(iterations):
        _wsq.decompress(data)
    decode_ms = (time.perf_counter() - start) * 1000.0 / iterations
    return {"encode_ms": encode_ms, "decode_ms": decode_ms, "bytes": len(data),
            "iterations": iterations}


def main(argv):
    if len(argv) == 4 and argv[1] == "encode":
        out = cmd_encode(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "decode":
        out = cmd_decode(argv[2], argv[3])
    elif len(argv) == 4 and argv[1] == "bench":
        out = cmd_bench(argv[2], max(1, int(argv[3])))
    else:
        sys.stderr.write(__doc__)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
