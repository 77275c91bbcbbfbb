namespace Syllabus.Trainer.Cli;

/// <summary>Bad input (manifest, flags, data): the CLI exits with 2 and prints the message, which names the problem.</summary>
public sealed class InputException : Exception
{
    public InputException()
    {
    }

    public InputException(string message) : base(message)
    {
    }

    public InputException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
