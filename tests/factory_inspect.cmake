# moe-factory inspection: PNG reading against PIL's decoding of a committed corpus
# (tests/factory/make_png_fixtures.py), threshold calibration on hand-made scores, the training of
# both models on generated surfaces, and the program end to end (factory_inspect_test.sh).
find_package(PNG REQUIRED)

mc_add_unit_test(test_png test_png.c)
target_link_libraries(test_png PRIVATE moe_factory)
target_compile_definitions(test_png PRIVATE FAB_PNG_DIR="${CMAKE_CURRENT_SOURCE_DIR}/factory/png")

mc_add_unit_test(test_threshold test_threshold.c)
target_link_libraries(test_threshold PRIVATE moe_factory)

# Both models learn on generated surfaces; model files round-trip.
mc_add_unit_test(test_inspect_train test_inspect_train.c)
target_link_libraries(test_inspect_train PRIVATE moe_factory)

# moe-factory inspection end to end: synth, train, inspect, eval, bad inputs, the samples.
add_test(NAME factory_inspect_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/factory_inspect_test.sh
         ${PROJECT_SOURCE_DIR} $<TARGET_FILE:moe-factory> ${CMAKE_CURRENT_BINARY_DIR}/tmp/factory_inspect ${MC_PYTHON})
set_tests_properties(factory_inspect_cli PROPERTIES LABELS cli)
