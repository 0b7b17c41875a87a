/* book.h: what `backtest` and `run` share: the options of the simulated book (sizing, stops,
 * costs, regimes, forecaster, dates), every input read into one portfolio with its signals, the
 * configuration as JSON, and the statistics in the database. */
#ifndef MOE_FINANCE_BOOK_H
#define MOE_FINANCE_BOOK_H

#include <jansson.h>

#include "backtest.h"
#include "batch.h"
#include "forecaster.h"
#include "regime_walk.h"

typedef struct fin_book_opts {
    fin_bt_config bt;
    fin_regime_walk walk;
    const char *model, *start, *end;
    int start_given;
    fin_bad_rows policy;
} fin_book_opts;

/* The book's options, first in each command's option table; fin_book_on_option parses them. */
#define FIN_BOOK_OPTIONS                                                                                                     \
    {"model", 'm', "MODEL", "a forecaster from `moe-finance train`; without one, regimes alone time the trades", NULL},     \
    {"start", 0, "DATE", "first day (default: the first with signals, after the forecaster's training data)", NULL},       \
    {"end", 0, "DATE", "last day", NULL},                                                                                   \
    {"long-short", 0, NULL, "allow short positions (default: long or flat)", NULL},                                         \
    {"target-vol", 0, "X", "annual volatility the book aims at", "0.15"},                                                   \
    {"max-leverage", 0, "X", "largest |weight| of one asset", "1"},                                                         \
    {"max-gross", 0, "X", "largest sum of |weights|", "1"},                                                                 \
    {"kelly", 0, "X", "fraction of the Kelly weight mu/sigma^2 with a forecaster (0: volatility targeting only)", "0.5"},   \
    {"regime-scale", 0, "B,S,B", "weight multipliers in bull, sideways and bear regimes", "1,0.5,0"},                       \
    {"states", 0, "2|3", "regimes of the walk-forward HMM", "2"},                                                           \
    {"refit", 0, "N", "days between refits of the regime model (expanding window)", "252"},                                 \
    {"atr-days", 0, "N", "chandelier stop window (highest high, ATR)", "22"},                                               \
    {"atr-mult", 0, "X", "chandelier stop distance in ATRs", "3"},                                                          \
    {"max-loss", 0, "X", "stop at this fractional loss from the entry (0: off)", "0.10"},                                   \
    {"cost-bps", 0, "X", "commission, basis points of traded notional", "5"},                                               \
    {"slippage-bps", 0, "X", "fill price moved against each order, basis points", "5"},                                     \
    {"rebalance-band", 0, "X", "keep a position while its weight is within X of the target", "0.05"},                      \
    {"fill", 0, "next-open|next-close", "when an order decided at a close fills", "next-open"},                            \
    {"bad-rows", 0, "reject|drop", "a bad price row rejects its file, or is dropped with a warning", "reject"}
enum { FIN_BOOK_N_OPTIONS = 19 };

/* Parses option index (< FIN_BOOK_N_OPTIONS) of FIN_BOOK_OPTIONS; 0, or a usage error. */
int fin_book_on_option(const mc_ctx *ctx, fin_book_opts *o, int index, const char *arg);

/* The command line of `backtest` and `run`: "[options] PRICES..." (one or more price files or
 * folders) with description under it. options begins with FIN_BOOK_OPTIONS; on_option gets every
 * option with user, whose book options are *o: set to their defaults before parsing, checked
 * together after it, with the seed taken. Returns the index of the first path, or -1 with the exit
 * code in *code. */
int fin_book_parse(mc_ctx *ctx, const char *description, const mc_option *options, int n_options, mc_option_fn on_option,
                   void *user, fin_book_opts *o, int argc, char **argv, int *code);

/* The portfolio: every symbol of every accepted file with its signals. */
typedef struct fin_book {
    fin_prices **files; /* the arrays read, freed with the book */
    int *file_n, n_files;
    fin_bt_asset *assets;
    int n_assets;
    fin_forecaster f;   /* f.model is NULL without --model */
    char trained[11]; /* the last day of the forecaster's training rows, "" when unknown */
    char after[11];   /* the first day of any symbol after it, when the book opens there */
    char ready[11];   /* the first day with signals */
} fin_book;

/* Loads the forecaster, reads every input of b (a file whose symbols do not all get their signals
 * is rejected by name, the others join), and sets o->start, unless given, to the first day with
 * signals after the forecaster's training data. A symbol without a bar from o->start to o->end is
 * left out of the book with a warning. A failure that stops the batch is in b->failure. */
void fin_book_open(fin_book *k, fin_batch *b, fin_book_opts *o);
void fin_book_free(fin_book *k);

/* Simulates the book's portfolio over o->start..o->end into *r (fin_backtest_run). Returns 0, or
 * -1 after logging under label ("backtest: no symbol left to trade", ...) with b->failure set;
 * does nothing but return -1 when b->failure is already set. */
int fin_book_simulate(const fin_book *k, fin_batch *b, const fin_book_opts *o, const char *label, fin_bt_result *r);

/* The options as one JSON object: the configuration a stored result is keyed by. */
json_t *fin_book_config(const fin_book_opts *o);

/* Stores the strategy's and buy-and-hold's statistics in fin_backtests (one transaction), keyed by
 * the configuration of o (fin_book_config). Returns 0, or -1 after logging a database error. */
int fin_book_store_stats(mc_run *run, const fin_bt_result *r, const fin_book *k, const fin_book_opts *o);

/* "bull", "bear" or "sideways": the likeliest of the three, "" when unknown. */
const char *fin_regime_of(double p_bull, double p_bear);

/* The date as a decimal year (2006.5 for early July), for charts. */
double fin_decimal_year(const char *date);

#endif
