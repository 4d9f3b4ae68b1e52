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

    static readonly ExtractOptions Budget = new() { MaxBytes = 64 << 20, MaxEntries = 10000 };

    static string Refusal(string file, Action<Stream> restore)
    {
        using var f = File.OpenRead(Path.Combine(Corpus.Value, file));
        return Assert.Throws<ArchiveRejectedException>(() => restore(f))!.Message;
    }

    static void AssertNoEscape() =>
        // Other suites plant sentinels at these paths concurrently: only our payload ("x") counts as an escape.
        Assert.That(new[] { "/tmp/pwned", "/pwned", "/etc/passwd" }.Where(HoldsPayload), Is.Empty, "an escape wrote outside");

    [TestCaseSource(nameof(Cases))]
    public void Refused_WithMessage_AndNoResidue(string file, string expect)
    {
        var parent = NewDir("parent");
        var dest = Path.Combine(parent, "upper");
        Directory.CreateDirectory(dest);
        var message = Refusal(file, f => UpperArchive.Extract(f, dest, Budget));
        Assert.That(message, Does.Contain(expect));
        Assert.That(Directory.EnumerateFileSystemEntries(dest), Is.Empty, "nothing left in the destination");
        Assert.That(Directory.EnumerateFileSystemEntries(parent), Is.EqualTo(new[] { dest }), "nothing beside it");
        AssertNoEscape();
        // Validate writes nothing at all and must refuse exactly as Extract did.
        Assert.That(Refusal(file, f => UpperArchive.Validate(f, Budget)), Is.EqualTo(message));
    }

    /// <summary>In place over an engine's overlay: the same refusal, and nothing outside the rootfs (ApplyInPlace cannot roll back inside it).</summary>
    [TestCaseSource(nameof(Cases))]
    public void RefusedInPlace_WithTheSameMessage_AndNothingOutside(string file, string expect)
    {
        var dest = NewDir("upper");
        var extractMessage = Refusal(file, f => UpperArchive.Extract(f, dest, Budget));
        var top = NewDir("engine");
        Sh.Run($"cd {Sh.Q(top)}; mkdir lower upper work merged; mkdir lower/d lower/etc; echo image > lower/etc/passwd; ln -s /tmp lower/tmp; " +
               $"mount -t overlay overlay -o lowerdir=lower,upperdir=upper,workdir=work merged");
        try
        {
            var message = Refusal(file, f => UpperArchive.ApplyInPlace(f, top + "/merged", Budget));
            Assert.That(message, Is.EqualTo(extractMessage));
        }
        finally { Sh.Run($"umount {Sh.Q(top)}/merged", check: false); }
        Assert.That(File.ReadAllText(top + "/lower/etc/passwd"), Is.EqualTo("image\n"));
        Assert.That(Directory.EnumerateFileSystemEntries(top).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "lower", "merged", "upper", "work" }));
        AssertNoEscape();
    }
}
