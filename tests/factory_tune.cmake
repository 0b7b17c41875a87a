# moe-factory process tuning: the simulators, the PPO learner and the surrogate optimiser are parts of
# the moe-factory program, so their sources are compiled into the tests.
mc_add_unit_test(test_tune_sim test_tune_sim.c)
target_link_libraries(test_tune_sim PRIVATE moe_factory)
mc_add_unit_test(test_tune_ppo test_tune_ppo.c)
target_link_libraries(test_tune_ppo PRIVATE moe_factory)
set_tests_properties(test_tune_ppo PROPERTIES TIMEOUT 600)
mc_add_unit_test(test_tune_surrogate test_tune_surrogate.c)
target_link_libraries(test_tune_surrogate PRIVATE moe_factory)

# tune bench and tune propose end to end through the real program: database rows, plots, the
# surrogate against random search, proposals within bounds and steps, bad inputs.
add_test(NAME factory_tune_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/factory_tune_test.sh
         ${PROJECT_SOURCE_DIR} $<TARGET_FILE:moe-factory> ${CMAKE_CURRENT_BINARY_DIR}/tmp/factory_tune ${MC_PYTHON})
set_tests_properties(factory_tune_cli PROPERTIES LABELS cli TIMEOUT 600)
