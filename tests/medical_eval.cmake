# moe-medical evaluation, clinical data, risk models and CT preprocessing: unit tests on hand-worked
# cases, and `moe-medical eval` end to end against a numpy re-implementation of LUNA16's script.
set(_med ${PROJECT_SOURCE_DIR}/apps/medical)

mc_add_unit_test(test_froc test_froc.c ${_med}/froc.c ${_med}/luna_csv.c)
target_include_directories(test_froc PRIVATE ${_med})

add_test(NAME medical_eval_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/medical_eval_test.sh ${PROJECT_SOURCE_DIR} $<TARGET_FILE:moe-medical>
         ${CMAKE_CURRENT_BINARY_DIR}/tmp/medical_eval ${MC_PYTHON})
set_tests_properties(medical_eval_cli PROPERTIES LABELS cli)

mc_add_unit_test(test_clinical test_clinical.c ${_med}/clinical.c ${_med}/luna_csv.c)
target_include_directories(test_clinical PRIVATE ${_med})

mc_add_unit_test(test_brock test_brock.c ${_med}/brock.c)
target_include_directories(test_brock PRIVATE ${_med})
mc_add_unit_test(test_lungrads test_lungrads.c ${_med}/lungrads.c ${_med}/brock.c)
target_include_directories(test_lungrads PRIVATE ${_med})

mc_add_unit_test(test_preprocess test_preprocess.c ${_med}/resample.c ${_med}/lung_mask.c ${_med}/candidates.c
                 ${_med}/volume.c)
target_include_directories(test_preprocess PRIVATE ${_med})
