using System.Globalization;

namespace Syllabus.Benchmarks.Operator;

internal static class BenchArgs
{
    /// <summary>The integer after <paramref name="name"/>, or <paramref name="fallback"/> when absent; a bad value is an error naming the option.</summary>
    public static int Int(string[] args, string name, int fallback, int minimum = 1)
    {
        var i = Array.IndexOf(args, name);
        if (i < 0)
        {
            return fallback;
        }

        if (i + 1 >= args.Length || !int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var value) || value < minimum)
        {
            throw new UsageException($"{name} needs an integer of at least {minimum}.");
        }

        return value;
    }

    /// <summary>The value after <paramref name="name"/>, one of <paramref name="allowed"/>; the first allowed value when absent.</summary>
    public static string Choice(string[] args, string name, params string[] allowed)
    {
        var i = Array.IndexOf(args, name);
        if (i < 0)
        {
            return allowed[0];
        }

        if (i + 1 >= args.Length || !allowed.Contains(args[i + 1]))
        {
            throw new UsageException($"{name} needs one of: {string.Join(", ", allowed)}.");
        }

        return args[i + 1];
    }

    /// <summary>Rejects options this mode does not know, so a typo never silently runs the defaults.</summary>
    public static void RequireKnown(string[] args, params string[] known)
    {
        for (var i = 0; i < args.Length; i += 2)
        {
            if (!known.Contains(args[i]))
            {
                throw new UsageException($"unknown option '{args[i]}'; known: {string.Join(", ", known)}.");
            }
        }
    }
}

/// <summary>A bad command line: reported with the usage, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
