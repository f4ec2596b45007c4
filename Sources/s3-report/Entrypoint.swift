import ArchiveCommands

ReportCommand.main()
