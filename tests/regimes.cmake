# The regime model against statsmodels' Markov switching regression on a real return series.
mc_add_unit_test(test_regimes_ref test_regimes_ref.c ${PROJECT_SOURCE_DIR}/apps/finance/hmm.c)
target_include_directories(test_regimes_ref PRIVATE ${PROJECT_SOURCE_DIR}/apps/finance)
target_compile_definitions(test_regimes_ref PRIVATE FIN_TEST_DIR="${CMAKE_CURRENT_SOURCE_DIR}/finance")
set_tests_properties(test_regimes_ref PROPERTIES LABELS "unit;parity")
