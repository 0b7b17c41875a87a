# moe-finance's factor library against R's TTR (finance/ttr_reference.csv, written by
# `Rscript tests/finance/ttr_reference.R`; the CSVs are committed, so the test needs no R) and
# against hand-worked Alpha158 values. The factors belong to the moe-finance program, not to
# libmoecore, so factors.c is compiled into the test.
mc_add_unit_test(test_factors test_factors.c)
target_link_libraries(test_factors PRIVATE moe_finance)
target_compile_definitions(test_factors PRIVATE FIN_TEST_DIR="${CMAKE_CURRENT_SOURCE_DIR}/finance")
set_tests_properties(test_factors PROPERTIES LABELS "unit;parity")

# Fundamentals: dates, the as-of join with a reporting lag, cross-sectional z-scores.
mc_add_unit_test(test_fundamentals test_fundamentals.c)
target_link_libraries(test_fundamentals PRIVATE moe_finance)

# The number format of the output files against printf's.
mc_add_unit_test(test_fin_csv test_fin_csv.c)
target_link_libraries(test_fin_csv PRIVATE moe_finance)

# Backtests: empyrical's statistics, the sizing rules and the simulation on hand-followed bars.
mc_add_unit_test(test_backtest test_backtest.c)
target_link_libraries(test_backtest PRIVATE moe_finance)
