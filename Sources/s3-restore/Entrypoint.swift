import ArchiveCommands

RestoreCommand.main()
