/* schema.c: moe-finance's tables and their migrations (docs/schema.md, section moe-finance). */
#include "schema.h"

/* The factor columns of migration 8, frozen as they were then: a factor added later comes with a
 * migration of its own (ALTER TABLE fin_factors ADD COLUMN). */
#define FACTORS_V8(X) \
    X(KMID) X(KLEN) X(KMID2) X(KUP) X(KUP2) X(KLOW) X(KLOW2) X(KSFT) X(KSFT2) X(OPEN0) X(HIGH0) X(LOW0) X(VWAP0) \
    X(ROC5) X(ROC10) X(ROC20) X(ROC30) X(ROC60) X(MA5) X(MA10) X(MA20) X(MA30) X(MA60) X(STD5) X(STD10) X(STD20) \
    X(STD30) X(STD60) X(BETA5) X(BETA10) X(BETA20) X(BETA30) X(BETA60) X(RSQR5) X(RSQR10) X(RSQR20) X(RSQR30) \
    X(RSQR60) X(RESI5) X(RESI10) X(RESI20) X(RESI30) X(RESI60) X(MAX5) X(MAX10) X(MAX20) X(MAX30) X(MAX60) \
    X(MIN5) X(MIN10) X(MIN20) X(MIN30) X(MIN60) X(QTLU5) X(QTLU10) X(QTLU20) X(QTLU30) X(QTLU60) X(QTLD5) \
    X(QTLD10) X(QTLD20) X(QTLD30) X(QTLD60) X(RANK5) X(RANK10) X(RANK20) X(RANK30) X(RANK60) X(RSV5) X(RSV10) \
    X(RSV20) X(RSV30) X(RSV60) X(IMAX5) X(IMAX10) X(IMAX20) X(IMAX30) X(IMAX60) X(IMIN5) X(IMIN10) X(IMIN20) \
    X(IMIN30) X(IMIN60) X(IMXD5) X(IMXD10) X(IMXD20) X(IMXD30) X(IMXD60) X(CORR5) X(CORR10) X(CORR20) X(CORR30) \
    X(CORR60) X(CORD5) X(CORD10) X(CORD20) X(CORD30) X(CORD60) X(CNTP5) X(CNTP10) X(CNTP20) X(CNTP30) X(CNTP60) \
    X(CNTN5) X(CNTN10) X(CNTN20) X(CNTN30) X(CNTN60) X(CNTD5) X(CNTD10) X(CNTD20) X(CNTD30) X(CNTD60) X(SUMP5) \
    X(SUMP10) X(SUMP20) X(SUMP30) X(SUMP60) X(SUMN5) X(SUMN10) X(SUMN20) X(SUMN30) X(SUMN60) X(SUMD5) X(SUMD10) \
    X(SUMD20) X(SUMD30) X(SUMD60) X(VMA5) X(VMA10) X(VMA20) X(VMA30) X(VMA60) X(VSTD5) X(VSTD10) X(VSTD20) \
    X(VSTD30) X(VSTD60) X(WVMA5) X(WVMA10) X(WVMA20) X(WVMA30) X(WVMA60) X(VSUMP5) X(VSUMP10) X(VSUMP20) \
    X(VSUMP30) X(VSUMP60) X(VSUMN5) X(VSUMN10) X(VSUMN20) X(VSUMN30) X(VSUMN60) X(VSUMD5) X(VSUMD10) X(VSUMD20) \
    X(VSUMD30) X(VSUMD60) X(sma_20) X(ema_20) X(wma_20) X(rsi_14) X(macd) X(macd_signal) X(bb_lower) X(bb_mid) \
    X(bb_upper) X(bb_pctb) X(tr) X(atr_14) X(plus_di_14) X(minus_di_14) X(adx_14) X(cci_20) X(stoch_fastk) \
    X(stoch_fastd) X(stoch_slowd) X(willr_14) X(obv) X(mfi_14) X(roc_10) X(cmo_14) X(aroon_up_25) X(aroon_dn_25) \
    X(aroon_osc_25) X(trix_15) X(ultosc) X(chaikin_ad) X(cmf_20) X(donchian_high_20) X(donchian_low_20) X(sar) \
    X(runsd_20)
#define FACTOR_COLUMN(name) " \"" #name "\" REAL,"
#define FACTOR_NAME(name) " \"" #name "\","
#define FACTOR_PIVOT(name) " max(CASE factor WHEN '" #name "' THEN value END),"

static const char *const fin_migrations[] = {
    /* 1: factor values, one row per symbol, date and factor */
    "CREATE TABLE fin_factors ("
    " symbol TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " factor TEXT NOT NULL,"
    " value REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbol, date, factor)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX fin_factors_run ON fin_factors(run_id);"
    "CREATE VIEW fin_latest_factors AS"
    " SELECT f.symbol, f.date, f.factor, f.value FROM fin_factors f"
    " JOIN (SELECT symbol, max(date) AS date FROM fin_factors GROUP BY symbol) l USING (symbol, date);",
    /* 2: market regimes: the latest model per symbol and its per-date path */
    "CREATE TABLE fin_regime_models ("
    " symbol TEXT PRIMARY KEY,"
    " features TEXT NOT NULL,"
    " states INTEGER NOT NULL,"
    " loglik REAL NOT NULL,"
    " bic REAL NOT NULL,"
    " model TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;"
    "CREATE TABLE fin_regimes ("
    " symbol TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " state INTEGER NOT NULL,"
    " label TEXT NOT NULL CHECK (label IN ('bull', 'bear', 'sideways')),"
    " p_state REAL NOT NULL,"
    " p_bull REAL NOT NULL,"
    " p_bear REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbol, date)) STRICT, WITHOUT ROWID;"
    "CREATE VIEW fin_latest_regimes AS"
    " SELECT r.symbol, r.date, r.label, r.p_state, r.p_bull, r.p_bear, m.states, m.features FROM fin_regimes r"
    " JOIN (SELECT symbol, max(date) AS date FROM fin_regimes GROUP BY symbol) l USING (symbol, date)"
    " JOIN fin_regime_models m USING (symbol);",
    /* 3: the forecaster: trained models and their forecasts */
    "CREATE TABLE fin_models ("
    " path TEXT PRIMARY KEY,"
    " horizon INTEGER NOT NULL,"
    " features INTEGER NOT NULL,"
    " train_rows INTEGER NOT NULL,"
    " val_rows INTEGER NOT NULL,"
    " val_loss REAL NOT NULL,"
    " val_ic REAL NOT NULL,"
    " val_hit_rate REAL NOT NULL,"
    " epochs INTEGER NOT NULL,"
    " metrics TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;"
    "CREATE TABLE fin_forecasts ("
    " symbol TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " horizon INTEGER NOT NULL,"
    " model TEXT NOT NULL,"
    " forecast REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbol, date, horizon, model)) STRICT, WITHOUT ROWID;"
    "CREATE VIEW fin_latest_forecasts AS"
    " SELECT f.* FROM fin_forecasts f"
    " JOIN (SELECT symbol, horizon, max(date) AS date FROM fin_forecasts GROUP BY symbol, horizon) l USING (symbol, horizon, date);",
    /* 4: filtered regime probabilities (from the data up to each day only) beside the smoothed ones */
    "ALTER TABLE fin_regimes ADD COLUMN pf_bull REAL;"
    "ALTER TABLE fin_regimes ADD COLUMN pf_bear REAL;"
    "DROP VIEW fin_latest_regimes;"
    "CREATE VIEW fin_latest_regimes AS"
    " SELECT r.symbol, r.date, r.label, r.p_state, r.p_bull, r.p_bear, r.pf_bull, r.pf_bear, m.states, m.features"
    " FROM fin_regimes r"
    " JOIN (SELECT symbol, max(date) AS date FROM fin_regimes GROUP BY symbol) l USING (symbol, date)"
    " JOIN fin_regime_models m USING (symbol);",
    /* 5: backtest statistics */
    "CREATE TABLE fin_backtests ("
    " symbols TEXT NOT NULL,"
    " first_date TEXT NOT NULL,"
    " last_date TEXT NOT NULL,"
    " config TEXT NOT NULL,"
    " portfolio TEXT NOT NULL CHECK (portfolio IN ('strategy', 'buy_and_hold')),"
    " days INTEGER NOT NULL,"
    " total_return REAL NOT NULL,"
    " cagr REAL,"
    " annual_vol REAL,"
    " sharpe REAL,"
    " sortino REAL,"
    " max_drawdown REAL NOT NULL,"
    " calmar REAL,"
    " turnover REAL,"
    " hit_rate REAL,"
    " trades INTEGER NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbols, first_date, last_date, config, portfolio)) STRICT;",
    /* 6: the nightly run's target positions for the next session */
    "CREATE TABLE fin_positions ("
    " symbol TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " regime TEXT CHECK (regime IN ('bull', 'bear', 'sideways')),"
    " p_bull REAL,"
    " p_bear REAL,"
    " forecast REAL,"
    " target_weight REAL NOT NULL,"
    " stop REAL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbol, date)) STRICT, WITHOUT ROWID;"
    "CREATE VIEW fin_latest_positions AS"
    " SELECT p.* FROM fin_positions p"
    " JOIN (SELECT symbol, max(date) AS date FROM fin_positions GROUP BY symbol) l USING (symbol, date);",
    /* 7: the latest_ views leave out the rows of runs that have not finished (a run killed on the
     * way stays 'running'): of those, the latest finished */
    "DROP VIEW fin_latest_factors;"
    "CREATE VIEW fin_latest_factors AS"
    " WITH done AS (SELECT f.* FROM fin_factors f JOIN runs r USING (run_id) WHERE r.status <> 'running')"
    " SELECT d.symbol, d.date, d.factor, d.value FROM done d"
    " JOIN (SELECT symbol, max(date) AS date FROM done GROUP BY symbol) l USING (symbol, date);"
    "DROP VIEW fin_latest_regimes;"
    "CREATE VIEW fin_latest_regimes AS"
    " WITH done AS (SELECT g.* FROM fin_regimes g JOIN runs r USING (run_id) WHERE r.status <> 'running')"
    " SELECT d.symbol, d.date, d.label, d.p_state, d.p_bull, d.p_bear, d.pf_bull, d.pf_bear, m.states, m.features"
    " FROM done d"
    " JOIN (SELECT symbol, max(date) AS date FROM done GROUP BY symbol) l USING (symbol, date)"
    " JOIN fin_regime_models m USING (symbol);"
    "DROP VIEW fin_latest_forecasts;"
    "CREATE VIEW fin_latest_forecasts AS"
    " WITH done AS (SELECT f.* FROM fin_forecasts f JOIN runs r USING (run_id) WHERE r.status <> 'running')"
    " SELECT d.* FROM done d"
    " JOIN (SELECT symbol, horizon, max(date) AS date FROM done GROUP BY symbol, horizon) l USING (symbol, horizon, date);"
    "DROP VIEW fin_latest_positions;"
    "CREATE VIEW fin_latest_positions AS"
    " WITH done AS (SELECT p.* FROM fin_positions p JOIN runs r USING (run_id) WHERE r.status <> 'running')"
    " SELECT d.* FROM done d"
    " JOIN (SELECT symbol, max(date) AS date FROM done GROUP BY symbol) l USING (symbol, date);",
    /* 8: factors one row per symbol and date, one column per factor (a symbol-day took 193 rows of
     * about 150 bytes; now one of about 1.8 KiB), the fundamental z-scores, whose fields come from
     * the user's file, in a table of their own; what each series' stored rows were computed from, so
     * that re-runs store the new days only. The values stored so far are kept: the pivot copies them,
     * a row's run the latest of those that wrote its values. */
    "DROP VIEW fin_latest_factors;"
    "ALTER TABLE fin_factors RENAME TO fin_factors_v7;"
    "CREATE TABLE fin_factors ("
    " symbol TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    FACTORS_V8(FACTOR_COLUMN)
    " PRIMARY KEY (symbol, date)) STRICT;"
    "INSERT INTO fin_factors(" FACTORS_V8(FACTOR_NAME) " symbol, date, run_id)"
    " SELECT" FACTORS_V8(FACTOR_PIVOT) " symbol, date,"
    " (SELECT o.run_id FROM fin_factors_v7 o JOIN runs r USING (run_id)"
    "   WHERE o.symbol = g.symbol AND o.date = g.date ORDER BY r.started_at DESC LIMIT 1)"
    " FROM fin_factors_v7 g WHERE factor NOT LIKE 'fz\\_%' ESCAPE '\\' GROUP BY symbol, date;"
    "CREATE TABLE fin_factor_fundamentals ("
    " symbol TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " factor TEXT NOT NULL,"
    " value REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbol, date, factor)) STRICT, WITHOUT ROWID;"
    "INSERT INTO fin_factor_fundamentals SELECT symbol, date, factor, value, run_id FROM fin_factors_v7"
    " WHERE factor LIKE 'fz\\_%' ESCAPE '\\';"
    "DROP TABLE fin_factors_v7;"
    "CREATE TABLE fin_store_state ("
    " command TEXT NOT NULL CHECK (command IN ('factors', 'forecast')),"
    " symbol TEXT NOT NULL,"
    " model TEXT NOT NULL,"
    " horizon INTEGER NOT NULL,"
    " last_date TEXT NOT NULL,"
    " bars BLOB NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (command, symbol, model, horizon)) STRICT;"
    /* per symbol, its latest row of a finished run: found from the end of the (symbol, date) index */
    "CREATE VIEW fin_latest_factors AS"
    " SELECT f.* FROM (SELECT DISTINCT symbol FROM fin_factors) s"
    " JOIN fin_factors f ON f.rowid = (SELECT g.rowid FROM fin_factors g JOIN runs r USING (run_id)"
    "  WHERE g.symbol = s.symbol AND r.status <> 'running' ORDER BY g.date DESC LIMIT 1);",
    /* 9: one regime story: fin_regimes holds the walk-forward filtered regimes the book trades on
     * (the rows of earlier versions, labelled by a full-sample fit, are removed: the next run writes
     * them again), with the full-sample fit's label beside them; the walk's fits are kept */
    "DELETE FROM fin_regimes;"
    "DELETE FROM fin_regime_models;"
    "ALTER TABLE fin_regimes ADD COLUMN label_full TEXT CHECK (label_full IN ('bull', 'bear', 'sideways'));"
    "ALTER TABLE fin_regime_models ADD COLUMN fit_date TEXT;"
    "CREATE TABLE fin_regime_fits ("
    " symbol TEXT NOT NULL,"
    " returns INTEGER NOT NULL,"
    " states INTEGER NOT NULL,"
    " min_days INTEGER NOT NULL,"
    " restarts INTEGER NOT NULL,"
    " seed INTEGER NOT NULL,"
    " data_hash INTEGER NOT NULL,"
    " model TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (symbol, returns, states, min_days, restarts, seed)) STRICT;"
    "DROP VIEW fin_latest_regimes;"
    "CREATE VIEW fin_latest_regimes AS"
    " WITH done AS (SELECT g.* FROM fin_regimes g JOIN runs r USING (run_id) WHERE r.status <> 'running')"
    " SELECT d.symbol, d.date, d.label, d.p_state, d.pf_bull, d.pf_bear, d.label_full, d.p_bull, d.p_bear, m.states,"
    " m.fit_date FROM done d"
    " JOIN (SELECT symbol, max(date) AS date FROM done GROUP BY symbol) l USING (symbol, date)"
    " JOIN fin_regime_models m USING (symbol);",
};

mc_status fin_schema_migrate(mc_store *s) {
    return mc_store_migrate(s, "fin", fin_migrations, (int)(sizeof fin_migrations / sizeof *fin_migrations));
}
