# moe-medical evaluation, clinical data, risk models and CT preprocessing: unit tests on hand-worked
# cases, and `moe-medical eval` end to end against a numpy re-implementation of LUNA16's script.

mc_add_unit_test(test_froc test_froc.c)
target_link_libraries(test_froc PRIVATE moe_medical)

add_test(NAME medical_eval_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/medical_eval_test.sh ${PROJECT_SOURCE_DIR} $<TARGET_FILE:moe-medical>
         ${CMAKE_CURRENT_BINARY_DIR}/tmp/medical_eval ${MC_PYTHON})
set_tests_properties(medical_eval_cli PROPERTIES LABELS cli)

mc_add_unit_test(test_clinical test_clinical.c)
target_link_libraries(test_clinical PRIVATE moe_medical)

mc_add_unit_test(test_brock test_brock.c)
target_link_libraries(test_brock PRIVATE moe_medical)
mc_add_unit_test(test_lungrads test_lungrads.c)
target_link_libraries(test_lungrads PRIVATE moe_medical)

mc_add_unit_test(test_preprocess test_preprocess.c)
target_link_libraries(test_preprocess PRIVATE moe_medical)
