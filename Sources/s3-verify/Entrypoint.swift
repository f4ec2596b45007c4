import ArchiveCommands

VerifyCommand.main()
