import ArchiveCommands

ETagCommand.main()
