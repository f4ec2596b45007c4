import ArchiveCommands

PutCommand.main()
