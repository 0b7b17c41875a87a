# The command-line plumbing, the run lifecycle and the metrics file, through a fixture program
# and the three real programs.
add_executable(moe-fixture cli_fixture.c)
mc_strict_warnings(moe-fixture)
target_link_libraries(moe-fixture PRIVATE moecore_static)

add_test(NAME cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_test.sh
         ${CMAKE_CURRENT_BINARY_DIR}/tmp/cli ${MC_PYTHON} $<TARGET_FILE:moe-fixture>
         $<TARGET_FILE:moe-finance> $<TARGET_FILE:moe-medical> $<TARGET_FILE:moe-factory>)
set_tests_properties(cli PROPERTIES LABELS cli)

mc_add_unit_test(test_cli_units test_cli_units.c)

add_test(NAME install COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install_test.sh
         ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/tmp/install ${PROJECT_SOURCE_DIR} ${MC_SANITIZE})
set_tests_properties(install PROPERTIES LABELS cli)

add_test(NAME nightly COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/nightly_test.sh
         ${PROJECT_SOURCE_DIR} $<TARGET_FILE_DIR:moe-finance> ${CMAKE_CURRENT_BINARY_DIR}/tmp/nightly)
set_tests_properties(nightly PROPERTIES LABELS cli)
