# moe-factory inspection: PNG reading against PIL's decoding of a committed corpus
# (tests/factory/make_png_fixtures.py), threshold calibration on hand-made scores, the training of
# both models on generated surfaces, and the program end to end (factory_inspect_test.sh).
set(FAB_DIR ${PROJECT_SOURCE_DIR}/apps/factory)
find_package(PNG REQUIRED)

mc_add_unit_test(test_png test_png.c ${FAB_DIR}/png_io.c)
target_include_directories(test_png PRIVATE ${FAB_DIR})
target_link_libraries(test_png PRIVATE PNG::PNG)
target_compile_definitions(test_png PRIVATE FAB_PNG_DIR="${CMAKE_CURRENT_SOURCE_DIR}/factory/png")

mc_add_unit_test(test_threshold test_threshold.c ${FAB_DIR}/threshold.c)
target_include_directories(test_threshold PRIVATE ${FAB_DIR})

# Both models learn on generated surfaces; model files round-trip.
mc_add_unit_test(test_inspect_train test_inspect_train.c ${FAB_DIR}/surface_synth.c ${FAB_DIR}/png_io.c
                 ${FAB_DIR}/image_set.c ${FAB_DIR}/inspector.c ${FAB_DIR}/anomaly.c ${FAB_DIR}/detector.c)
target_include_directories(test_inspect_train PRIVATE ${FAB_DIR})
target_link_libraries(test_inspect_train PRIVATE PNG::PNG)

# moe-factory inspection end to end: synth, train, inspect, eval, bad inputs, the samples.
add_test(NAME factory_inspect_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/factory_inspect_test.sh
         ${PROJECT_SOURCE_DIR} $<TARGET_FILE:moe-factory> ${CMAKE_CURRENT_BINARY_DIR}/tmp/factory_inspect ${MC_PYTHON})
set_tests_properties(factory_inspect_cli PROPERTIES LABELS cli)
