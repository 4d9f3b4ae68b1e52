using Csshim.TarLayer;
using Newtonsoft.Json.Linq;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>Every case of test/hostile/generate.py must be refused with its message and leave nothing behind.</summary>
[TestFixture]
public class HostileCorpusTests : TmpfsFixture
{
    static readonly Lazy<string> Corpus = new(() =>
    {
        // Regenerated on every run next to the test binaries (discovery needs it too, so no per-run temp dir).
        var dir = Path.Combine(TestContext.CurrentContext.TestDirectory, "hostile-corpus");
        var script = Path.GetFullPath(Path.Combine(TestContext.CurrentContext.TestDirectory, "../../../../hostile/generate.py"));
        Sh.Run($"python3 {Sh.Q(script)} {Sh.Q(dir)}");
        return dir;
    });

    static bool HoldsPayload(string path)
    {
        try { return File.ReadAllText(path) == "x"; }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var c in JArray.Parse(File.ReadAllText(Path.Combine(Corpus.Value, "manifest.json"))))
            yield return new TestCaseData((string)c["file"]!, (string)c["expect"]!).SetName($"Hostile({(string)c["name"]!})");
    }

    [TestCaseSource(nameof(Cases))]
    public void Refused_WithMessage_AndNoResidue(string file, string expect)
    {
        var parent = NewDir("parent");
        var dest = Path.Combine(parent, "upper");
        Directory.CreateDirectory(dest);
        using var f = File.OpenRead(Path.Combine(Corpus.Value, file));
        var ex = Assert.Throws<ArchiveRejectedException>(() =>
            UpperArchive.Extract(f, dest, new ExtractOptions { MaxBytes = 64 << 20, MaxEntries = 10000 }));
        Assert.That(ex!.Message, Does.Contain(expect));
        Assert.That(Directory.EnumerateFileSystemEntries(dest), Is.Empty, "nothing left in the destination");
        Assert.That(Directory.EnumerateFileSystemEntries(parent), Is.EqualTo(new[] { dest }), "nothing beside it");
        // Other suites plant sentinels at these paths concurrently: only our payload ("x") counts as an escape.
        Assert.That(new[] { "/tmp/pwned", "/pwned", "/etc/passwd" }.Where(HoldsPayload), Is.Empty, "an escape wrote outside");
    }
}
