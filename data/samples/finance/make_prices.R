# make_prices.R: writes the finance sample prices into prices/:
#   TTRC.csv  the last 500 daily bars of the `ttrc` series that R's TTR package ships;
#   GBMA.csv, GBMB.csv  500 bars each of seeded geometric Brownian motions (a calm and a volatile
#             symbol), with intraday ranges and volumes drawn around them.
# Run from this folder: Rscript make_prices.R   (needs Debian's r-cran-ttr)
suppressMessages(library(TTR))
data(ttrc)
out <- tail(ttrc, 500)
write_bars <- function(d, file) {
    write.table(data.frame(date = format(as.Date(d$Date), "%Y-%m-%d"), open = round(d$Open, 4), high = round(d$High, 4),
                           low = round(d$Low, 4), close = round(d$Close, 4), volume = round(d$Volume)),
                file, sep = ",", row.names = FALSE, quote = FALSE)
}
write_bars(out, "prices/TTRC.csv")
set.seed(20261128)
days <- seq(as.Date("2024-01-01"), by = "day", length.out = 800)
days <- head(days[!(weekdays(days) %in% c("Saturday", "Sunday"))], 500)
gbm <- function(s0, mu, sigma, vol0) {
    r <- rnorm(length(days), mu / 252, sigma / sqrt(252))
    close <- s0 * exp(cumsum(r))
    open <- c(s0, head(close, -1)) * exp(rnorm(length(days), 0, sigma / sqrt(252) / 4))
    hi <- pmax(open, close) * exp(abs(rnorm(length(days), 0, sigma / sqrt(252) / 2)))
    lo <- pmin(open, close) * exp(-abs(rnorm(length(days), 0, sigma / sqrt(252) / 2)))
    data.frame(Date = days, Open = open, High = hi, Low = lo, Close = close,
               Volume = round(vol0 * exp(rnorm(length(days), 0, 0.3))))
}
write_bars(gbm(100, 0.08, 0.15, 2e6), "prices/GBMA.csv")
write_bars(gbm(40, 0.02, 0.45, 5e5), "prices/GBMB.csv")
