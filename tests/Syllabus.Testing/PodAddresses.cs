using System.Net;

namespace Syllabus.Testing;

/// <summary>
/// Pod IPs for <see cref="TestKubelet"/>: each pod gets its own loopback address 127.B.x.y. Linux routes all of
/// 127.0.0.0/8 to <c>lo</c> without any configuration, so a process can bind and reach any of them, and two
/// pods can listen on the same port at their own addresses (a program binding 0.0.0.0 instead still collides:
/// it must bind its pod IP). 127.0.0.0/16 is left alone (the node's address 127.0.0.1 and the control plane
/// live there). The second octet B is claimed per test process with an exclusive lock on a file named after
/// it, held until the process exits, so parallel test processes never hand out the same addresses; within a
/// process, addresses go round the /16 and are reused only after every other one was taken.
/// </summary>
internal static class PodAddresses
{
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> InUse = [];
    private static int next;
    private static (int Block, FileStream Lock)? claimed;

    public static IPAddress Allocate()
    {
        lock (Gate)
        {
            var block = ClaimBlock();
            const int Size = 256 * 256;
            for (var tried = 0; tried < Size; tried++)
            {
                var index = next;
                next = (next + 1) % Size;
                // Skip x.0 and x.255 in the last octet: not wrong on lo, but easily mistaken for network/broadcast.
                if (index % 256 is 0 or 255 || !InUse.Add(index))
                {
                    continue;
                }

                return new IPAddress([127, (byte)block, (byte)(index / 256), (byte)(index % 256)]);
            }

            throw new InvalidOperationException($"TestKubelet: all pod addresses in 127.{block}.0.0/16 are in use");
        }
    }

    public static void Release(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        lock (Gate)
        {
            if (claimed is { Block: var block } && bytes[0] == 127 && bytes[1] == block)
            {
                InUse.Remove((bytes[2] * 256) + bytes[3]);
            }
        }
    }

    private static int ClaimBlock()
    {
        if (claimed is { } held)
        {
            return held.Block;
        }

        var directory = Path.Combine(Path.GetTempPath(), "syllabus-pod-addresses");
        Directory.CreateDirectory(directory);
        for (var block = 1; block <= 254; block++)
        {
            try
            {
                // FileShare.None is an exclusive advisory lock (flock) on Unix: another process's open fails
                // until this one exits, whatever way it exits.
                var file = new FileStream(Path.Combine(directory, $"127.{block}.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                claimed = (block, file);
                return block;
            }
            catch (IOException)
            {
            }
        }

        throw new InvalidOperationException($"TestKubelet: every pod address block 127.1-254.0.0/16 is held by another process (lock files in {directory})");
    }
}
