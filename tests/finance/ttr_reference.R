# ttr_reference.R: reference values for the TTR-matched factors of moe-finance (apps/finance/factors.c),
# computed with R's TTR package on its bundled ttrc data set (the first 1500 daily bars).
#
# Run from anywhere (needs r-cran-ttr):
#   Rscript tests/finance/ttr_reference.R
# It writes, beside itself:
#   ttrc.csv           date,open,high,low,close,volume
#   ttr_reference.csv  date and one column per factor, named as fin_factor_name() names them;
#                      NA (warm-up or undefined) is written as an empty field.
# The indicators are computed from the prices as read back from ttrc.csv, so the C test and this
# script see exactly the same input numbers. tests/finance/test_factors.c compares the two.
suppressPackageStartupMessages(library(TTR))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
out_dir <- if (length(script) == 1) dirname(normalizePath(script)) else "."

data(ttrc)
bars <- head(ttrc, 1500)
prices <- data.frame(date = format(bars$Date, "%Y-%m-%d"),
                     open = sprintf("%.15g", bars$Open), high = sprintf("%.15g", bars$High),
                     low = sprintf("%.15g", bars$Low), close = sprintf("%.15g", bars$Close),
                     volume = sprintf("%.15g", bars$Volume))
prices_csv <- file.path(out_dir, "ttrc.csv")
write.csv(prices, prices_csv, row.names = FALSE, quote = FALSE)

x <- read.csv(prices_csv, colClasses = c("character", rep("numeric", 5)))
close <- x$close
volume <- x$volume
HL <- cbind(x$high, x$low)
HLC <- cbind(x$high, x$low, x$close)

macd <- MACD(close, nFast = 12, nSlow = 26, nSig = 9, maType = "EMA", percent = FALSE)
bb <- BBands(close, n = 20, sd = 2)
atr <- ATR(HLC, n = 14)
adx <- ADX(HLC, n = 14)
st <- stoch(HLC, nFastK = 14, nFastD = 3, nSlowD = 3)
ar <- aroon(HL, n = 25)
dc <- DonchianChannel(HL, n = 20)

ref <- data.frame(
  sma_20 = SMA(close, 20),
  ema_20 = EMA(close, 20),
  wma_20 = WMA(close, 20),
  rsi_14 = RSI(close, 14),
  macd = macd[, "macd"],
  macd_signal = macd[, "signal"],
  bb_lower = bb[, "dn"],
  bb_mid = bb[, "mavg"],
  bb_upper = bb[, "up"],
  bb_pctb = bb[, "pctB"],
  tr = atr[, "tr"],
  atr_14 = atr[, "atr"],
  plus_di_14 = adx[, "DIp"],
  minus_di_14 = adx[, "DIn"],
  adx_14 = adx[, "ADX"],
  cci_20 = as.vector(CCI(HLC, n = 20)),
  stoch_fastk = 100 * st[, "fastK"],
  stoch_fastd = 100 * st[, "fastD"],
  stoch_slowd = 100 * st[, "slowD"],
  willr_14 = -100 * as.vector(WPR(HLC, n = 14)),
  obv = as.vector(OBV(close, volume)),
  mfi_14 = as.vector(MFI(HLC, volume, n = 14)),
  roc_10 = ROC(close, n = 10, type = "discrete"),
  cmo_14 = as.vector(CMO(close, n = 14)),
  aroon_up_25 = ar[, "aroonUp"],
  aroon_dn_25 = ar[, "aroonDn"],
  aroon_osc_25 = ar[, "oscillator"],
  trix_15 = TRIX(close, n = 15, nSig = 9, maType = "EMA", percent = TRUE)[, "TRIX"],
  ultosc = as.vector(ultimateOscillator(HLC, n = c(7, 14, 28), wts = c(4, 2, 1))),
  chaikin_ad = as.vector(chaikinAD(HLC, volume)),
  cmf_20 = as.vector(CMF(HLC, volume, n = 20)),
  donchian_high_20 = dc[, "high"],
  donchian_low_20 = dc[, "low"],
  sar = as.vector(SAR(HL, accel = c(0.02, 0.2))),
  runsd_20 = runSD(close, n = 20, sample = TRUE)
)

fmt <- function(v) ifelse(is.na(v), "", sprintf("%.12g", v))
out <- data.frame(date = x$date, lapply(ref, fmt), check.names = FALSE)
write.csv(out, file.path(out_dir, "ttr_reference.csv"), row.names = FALSE, quote = FALSE)
