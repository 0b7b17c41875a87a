# The regime model against statsmodels' Markov switching regression on a real return series.
mc_add_unit_test(test_regimes_ref test_regimes_ref.c)
target_link_libraries(test_regimes_ref PRIVATE moe_finance)
target_compile_definitions(test_regimes_ref PRIVATE FIN_TEST_DIR="${CMAKE_CURRENT_SOURCE_DIR}/finance")
set_tests_properties(test_regimes_ref PROPERTIES LABELS "unit;parity")
