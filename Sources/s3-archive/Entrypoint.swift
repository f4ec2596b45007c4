import ArchiveCommands

ArchiveCommand.main()
