# ttr_time.R: times R's TTR computing the indicators that moe-finance matches, on every CSV of a
# folder (reading excluded). Usage: Rscript ttr_time.R DIR
suppressMessages(library(TTR))
files <- list.files(commandArgs(TRUE)[1], pattern = "\\.csv$", full.names = TRUE)
data <- lapply(files, read.csv)
t <- system.time(for (d in data) {
    hlc <- cbind(d$high, d$low, d$close)
    SMA(d$close, 20); EMA(d$close, 20); WMA(d$close, 20); RSI(d$close, 14); MACD(d$close, 12, 26, 9, percent = FALSE)
    BBands(hlc, 20, sd = 2); ATR(hlc, 14); ADX(hlc, 14); CCI(hlc, 20); stoch(hlc, 14, 3, 3); WPR(hlc, 14)
    OBV(d$close, d$volume); MFI(hlc, d$volume, 14); ROC(d$close, 10, type = "discrete"); CMO(d$close, 14)
    aroon(cbind(d$high, d$low), 25); TRIX(d$close, 15, 9); ultimateOscillator(hlc); chaikinAD(hlc, d$volume)
    CMF(hlc, d$volume, 20); DonchianChannel(cbind(d$high, d$low), 20); SAR(cbind(d$high, d$low)); runSD(d$close, 20)
})
cat(sprintf("{\"impl\":\"TTR\",\"files\":%d,\"seconds\":%.3f}\n", length(files), t[["elapsed"]]))
