using System.Buffers.Binary;
using System.Text;
using TorchSharp;

namespace Syllabus.Trainer.Tests.Build;

// Checks build/LibTorchSharpGlibcxx.targets: the copy in this test project's bin folder loads and computes, and
// the copy in the NuGet cache is untouched.
public sealed class LibTorchSharpGlibcxxTests
{
    private const string Version = "GLIBCXX_3.4.32";
    private const ushort VerFlgWeak = 0x2;

    [Fact]
    public void TorchLoadsAndMultiplies()
    {
        using var a = torch.ones(2, 3);
        using var b = torch.arange(6, dtype: torch.float32).reshape(3, 2);
        using var c = torch.matmul(a, b);
        // Column sums of [[0,1],[2,3],[4,5]].
        Assert.Equal([6f, 9f, 6f, 9f], c.data<float>().ToArray());
    }

    [Fact]
    public void BinCopyIsWeakenedWhereSystemLacksTheVersion()
    {
        var system = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";
        if (!File.Exists(system))
        {
            Assert.Skip($"{system} not present; the target decides via ldconfig there");
        }

        var binCopy = Path.Combine(AppContext.BaseDirectory, "libLibTorchSharp.so");
        Assert.True(File.Exists(binCopy), $"{binCopy} missing");
        var flags = ElfVersionNeeds.FlagsOf(File.ReadAllBytes(binCopy), Version);
        Assert.NotNull(flags);

        var systemHasIt = ElfVersionNeeds.Defines(File.ReadAllBytes(system), Version);
        Assert.Equal(!systemHasIt, (flags.Value & VerFlgWeak) != 0);
    }

    [Fact]
    public void NuGetCacheCopyIsUntouched()
    {
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var original = Path.Combine(cache, "torchsharp", typeof(torch).Assembly.GetName().Version!.ToString(3),
            "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(original))
        {
            Assert.Skip($"{original} not present (packages restored elsewhere)");
        }

        var flags = ElfVersionNeeds.FlagsOf(File.ReadAllBytes(original), Version);
        Assert.NotNull(flags);
        Assert.Equal(0, flags.Value & VerFlgWeak);
    }

    // A second, independent reading of the ELF structures the build task patches, so the test does not trust the task.
    private static class ElfVersionNeeds
    {
        public static ushort? FlagsOf(byte[] elf, string version)
        {
            var (verneed, strtab) = Section(elf, 0x6ffffffe);
            var entry = (int)verneed.Offset;
            for (var i = 0u; i < verneed.Info; i++)
            {
                var aux = entry + (int)U32(elf, entry + 8);
                for (var j = 0; j < U16(elf, entry + 2); j++)
                {
                    if (Str(elf, strtab, U32(elf, aux + 8)) == version)
                    {
                        return U16(elf, aux + 4);
                    }

                    aux += (int)U32(elf, aux + 12);
                }

                entry += (int)U32(elf, entry + 12);
            }

            return null;
        }

        public static bool Defines(byte[] elf, string version)
        {
            var (verdef, strtab) = Section(elf, 0x6ffffffd);
            var entry = (int)verdef.Offset;
            for (var i = 0u; i < verdef.Info; i++)
            {
                if (Str(elf, strtab, U32(elf, entry + (int)U32(elf, entry + 12))) == version)
                {
                    return true;
                }

                entry += (int)U32(elf, entry + 16);
            }

            return false;
        }

        private static (SectionHeader Section, SectionHeader Strings) Section(byte[] elf, uint type)
        {
            Assert.True(elf[0] == 0x7f && elf[1] == 'E' && elf[4] == 2 && elf[5] == 1, "not an ELF64 little-endian file");
            var shoff = (int)BinaryPrimitives.ReadUInt64LittleEndian(elf.AsSpan(0x28));
            int entsize = U16(elf, 0x3a), count = U16(elf, 0x3c);
            var headers = Enumerable.Range(0, count).Select(i => Header(elf, shoff + (i * entsize))).ToArray();
            var section = Assert.Single(headers, h => h.Type == type);
            return (section, headers[section.Link]);
        }

        private static SectionHeader Header(byte[] elf, int at) => new(
            U32(elf, at + 4),
            (long)BinaryPrimitives.ReadUInt64LittleEndian(elf.AsSpan(at + 0x18)),
            (int)U32(elf, at + 0x28),
            U32(elf, at + 0x2c));

        private static string Str(byte[] elf, SectionHeader strtab, uint index)
        {
            var start = (int)(strtab.Offset + index);
            var end = Array.IndexOf(elf, (byte)0, start);
            return Encoding.ASCII.GetString(elf, start, end - start);
        }

        private static ushort U16(byte[] b, int at) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(at));

        private static uint U32(byte[] b, int at) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));

        private readonly record struct SectionHeader(uint Type, long Offset, int Link, uint Info);
    }
}
