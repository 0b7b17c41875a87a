"""talib_time.py: times TA-Lib (PyPI `ta-lib`, its C library) computing the indicators that
moe-finance matches with TTR, on every CSV of a folder (reading excluded), as one JSON line.
Usage: python3 talib_time.py DIR   (a Python with ta-lib and numpy, e.g. a venv)"""
import glob
import json
import sys
import time

import numpy as np
import talib

data = []
for path in sorted(glob.glob(sys.argv[1] + "/*.csv")):
    a = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4, 5))
    data.append([np.ascontiguousarray(a[:, i]) for i in range(5)])
t0 = time.perf_counter()
for o, h, l, c, v in data:
    talib.SMA(c, 20); talib.EMA(c, 20); talib.WMA(c, 20); talib.RSI(c, 14); talib.MACD(c, 12, 26, 9)
    talib.BBANDS(c, 20, 2, 2); talib.TRANGE(h, l, c); talib.ATR(h, l, c, 14); talib.PLUS_DI(h, l, c, 14)
    talib.MINUS_DI(h, l, c, 14); talib.ADX(h, l, c, 14); talib.CCI(h, l, c, 20); talib.STOCH(h, l, c, 14, 3, 0, 3, 0)
    talib.STOCHF(h, l, c, 14, 3, 0); talib.WILLR(h, l, c, 14); talib.OBV(c, v); talib.MFI(h, l, c, v, 14)
    talib.ROCP(c, 10); talib.CMO(c, 14); talib.AROON(h, l, 25); talib.AROONOSC(h, l, 25); talib.TRIX(c, 15)
    talib.ULTOSC(h, l, c, 7, 14, 28); talib.AD(h, l, c, v); talib.MAX(h, 20); talib.MIN(l, 20); talib.SAR(h, l, 0.02, 0.2)
    talib.STDDEV(c, 20)
print(json.dumps({"impl": "TA-Lib " + talib.__version__, "files": len(data), "seconds": round(time.perf_counter() - t0, 3)}))
