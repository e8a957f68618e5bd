import ArgumentParser
import FirmchainCore
import Foundation
import Pipeline
import ReleasePolicy
import Repository
import Signing

/// `firmchain pipeline run`: the one step a CI build stage needs.
struct PipelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Run a release pipeline (Pipelines/*.yml) under its policy (Policies/*.yml).",
        subcommands: [Run.self]
    )
}
