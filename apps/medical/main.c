/* main.c: moe-medical, the command-line entry point; each command lives in a file of its own. */
#include "commands.h"

static const mc_command commands[] = {
    {"eval", "evaluate nodule detections against annotations as LUNA16 does (FROC, CPM, bootstrap)", med_cmd_eval},
    {"scan", "list the DICOM series under folders, with their geometry and problems", med_cmd_scan},
    {"convert", "write CT series as NIfTI-1 volumes in Hounsfield units with the scanner's geometry", med_cmd_convert},
    {"phantom", "write synthetic chest CT studies as DICOM with nodule annotations and clinical data", med_cmd_phantom},
    {"train", "train the 3D CNN nodule detector on annotated CT series", med_cmd_train},
    {"detect", "find lung nodules in CT series with the 3D CNN, with type, Lung-RADS and malignancy risk", med_cmd_detect},
};

static const mc_program program = {
    .name = "moe-medical",
    .summary = "Chest CT: DICOM series, lung-nodule detection, malignancy risk and FROC evaluation.",
    .commands = commands,
    .n_commands = (int)(sizeof commands / sizeof commands[0]),
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
