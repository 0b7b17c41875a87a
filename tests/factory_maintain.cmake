# moe-factory predictive maintenance: the input readers on good and bad files, the features against
# hand-worked values (slope, FFT spectrum, conditions), the evaluation arithmetic (C-MAPSS score,
# alarms, policies), the model file, and the program end to end on generated fleets, with a
# held-out fleet judged beside the one-sensor baseline (factory_maintain_test.sh).

mc_add_unit_test(test_maint_inputs test_maint_inputs.c)
target_link_libraries(test_maint_inputs PRIVATE moe_factory)

mc_add_unit_test(test_maint_features test_maint_features.c)
target_link_libraries(test_maint_features PRIVATE moe_factory)

mc_add_unit_test(test_maint_eval test_maint_eval.c)
target_link_libraries(test_maint_eval PRIVATE moe_factory)

mc_add_unit_test(test_maint_model test_maint_model.c)
target_link_libraries(test_maint_model PRIVATE moe_factory)

add_test(NAME factory_maintain_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/factory_maintain_test.sh
         ${PROJECT_SOURCE_DIR} $<TARGET_FILE:moe-factory> ${CMAKE_CURRENT_BINARY_DIR}/tmp/factory_maintain ${MC_PYTHON})
set_tests_properties(factory_maintain_cli PROPERTIES LABELS cli)
