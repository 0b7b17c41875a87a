# make_real_series.R: writes the real daily index closes that R ships (datasets::EuStockMarkets:
# DAX, SMI, CAC and FTSE, 1991-1998) as moe-finance price files, for the regime and book tests.
# The data set counts business days without a calendar, so the dates here are the weekdays from its
# first day (the 130th weekday of 1991); holidays are not skipped, so late dates drift a few days
# from the real ones. The files hold closes only: each open is the previous close, high and low
# the larger and smaller of the two, volume 0.
# Usage: Rscript tests/finance/real/make_real_series.R [OUT_DIR]   (default: this folder)
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args) > 0) args[1] else "tests/finance/real"
data(EuStockMarkets, package = "datasets")
days <- seq(as.Date("1991-01-01"), by = "day", length.out = 4000)
weekdays_only <- days[!(format(days, "%u") %in% c("6", "7"))]
first <- (start(EuStockMarkets)[2])
dates <- weekdays_only[first:(first + nrow(EuStockMarkets) - 1)]
for (name in colnames(EuStockMarkets)) {
    close <- as.numeric(EuStockMarkets[, name])
    open <- c(close[1], close[-length(close)])
    frame <- data.frame(date = format(dates, "%Y-%m-%d"), open = open, high = pmax(open, close),
                        low = pmin(open, close), close = close, volume = 0)
    write.csv(frame, file.path(out, paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
}
# Longer daily closes with their real dates, from the AER package (Debian r-cran-aer): the Dow
# Jones Industrial Average 1980-2012 (DJIA8012) and the MSCI Switzerland index 1995-2012
# (MSCISwitzerland). Same layout; a day whose close repeats the day before is kept (a holiday).
if (requireNamespace("AER", quietly = TRUE)) {
    for (name in c("DJIA8012", "MSCISwitzerland")) {
        e <- new.env()
        data(list = name, package = "AER", envir = e)
        z <- get(name, envir = e)
        close <- round(as.numeric(z), 4)
        open <- c(close[1], close[-length(close)])
        frame <- data.frame(date = format(zoo::index(z), "%Y-%m-%d"), open = open, high = pmax(open, close),
                            low = pmin(open, close), close = close, volume = 0)
        write.csv(frame, file.path(out, paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
    }
}
# The whole of TTR's ttrc (1985-2006, with opens, highs, lows and volumes).
if (requireNamespace("TTR", quietly = TRUE)) {
    e <- new.env()
    data(ttrc, package = "TTR", envir = e)
    t <- e$ttrc
    frame <- data.frame(date = format(t$Date, "%Y-%m-%d"), open = t$Open, high = t$High, low = t$Low, close = t$Close,
                        volume = t$Volume)
    write.csv(frame, file.path(out, "TTRC.csv"), row.names = FALSE, quote = FALSE)
}
