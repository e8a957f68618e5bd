import ArgumentParser
import FirmchainCore

// The entry point: parse, run, and turn every error into one line and a documented exit code.
CommandLine.run(Firmchain.self)
