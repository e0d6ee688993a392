// A shared library without the plugin entry point.
extern "C" __attribute__((visibility("default"))) int reco_something_else() { return 7; }
