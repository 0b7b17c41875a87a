# moe-finance end to end: the sample prices and bad inputs through the real program.
add_test(NAME finance_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/finance_test.sh
         ${PROJECT_SOURCE_DIR} $<TARGET_FILE:moe-finance> ${CMAKE_CURRENT_BINARY_DIR}/tmp/finance ${MC_PYTHON})
set_tests_properties(finance_cli PROPERTIES LABELS cli)
