using Newtonsoft.Json.Linq;

namespace Csshim.Reliability.Tests;

/// <summary>Every archive of test/hostile/generate.py, through the binary: the create fails naming the cause, no
/// sentinel an escape would hit changes, and no mount, staging or container is left.</summary>
[TestFixture]
public class HostileCorpusTests : SandboxFixture
{
    private static string CorpusDir = "";

    /// <summary>Where the archives' escapes aim: ./evil → /tmp, ../.. from the upper, /etc.</summary>
    private static readonly string[] EscapeTargets = ["/tmp/pwned", "/tmp/x", "/etc/x", "/x"];

    public static IEnumerable<TestCaseData> Cases()
    {
        var manifest = Corpus();
        foreach (var rt in Runtimes.Main)
            foreach (var c in manifest)
                yield return new TestCaseData(rt.Name, (string)c["name"]!, Path.Combine(CorpusDir, (string)c["file"]!), (string)c["expect"]!)
                    .SetName($"Hostile_{c["name"]}_{rt.Name}");
    }

    private static JArray Corpus()
    {
        // Test case names are needed at discovery, before any setup: the corpus is generated then, into the build
        // output, once per version of the generator.
        var generator = Path.Combine(Csshim.Tests.Rig.RepoRoot.Path, "test", "hostile", "generate.py");
        var version = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(generator)))[..12];
        CorpusDir = Path.Combine(TestContext.CurrentContext.TestDirectory, "hostile-corpus", version);
        var manifest = Path.Combine(CorpusDir, "manifest.json");
        if (!File.Exists(manifest))
        {
            foreach (var stale in Directory.Exists(Path.GetDirectoryName(CorpusDir)) ? Directory.GetDirectories(Path.GetDirectoryName(CorpusDir)!) : [])
                Directory.Delete(stale, recursive: true);
            var r = Proc.Run("/usr/bin/python3", [generator, CorpusDir + ".new"], CorpusDir + ".logs");
            if (r.Status != 0) throw new InvalidOperationException($"{generator} failed: {r}");
            Directory.Move(CorpusDir + ".new", CorpusDir);
        }
        return JArray.Parse(File.ReadAllText(manifest));
    }

    [TestCaseSource(nameof(Cases))]
    public void Hostile_archive_is_refused_and_changes_nothing(string runtime, string name, string file, string expect)
    {
        var rt = Runtimes.Named(runtime);
        var archive = Path.Combine(sb.Dir, "corpus", Path.GetFileName(file));
        Directory.CreateDirectory(Path.GetDirectoryName(archive)!);
        File.Copy(file, archive);
        var bundle = sb.Bundle(name, ["cat", "/etc/x"], ArchivePolicyTests.Annotated(archive));
        using var sentinels = new Sentinels([Path.Combine(sb.Dir, "bundles", "sentinel"), "/etc/passwd", .. EscapeTargets]);
        var rootfsBefore = Listing(sb.Rootfs);

        // The tmpfs size cap stops a byte bomb; the entry budget an entry bomb (the inode cap is set above the budget
        // here, so that the budget is what is tested; the inode cap has tests of its own).
        var cause = expect == "byte budget" ? "the upper's size cap of 64m is reached" : expect;
        Figures.HostileCase("archive", name, rt, () =>
        {
            Refusal.AssertCreateRefused(sb, rt, bundle, name, cause,
                ["--allow-rootfs-tar-annotation", "--shim-upper-size", "64m", "--shim-upper-inodes", "100000", "--shim-max-entries", "10000"], TimeSpan.FromSeconds(60));
            sentinels.AssertUnchanged();
            Assert.That(Listing(sb.Rootfs), Is.EqualTo(rootfsBefore), "the image rootfs (overlay lower) changed");
            Assert.That(sb.CacheEntries().Concat(sb.CacheLeftovers()), Is.Empty, "a refused archive left something in the layer cache");
        });
    }

    /// <summary>The id becomes a directory name under the state dir: anything but one harmless component is refused.</summary>
    [TestCase(".."), TestCase("."), TestCase("a/b"), TestCase("../escape"), TestCase("/abs"), TestCase("x y"), TestCase("tab\tid")]
    public void Hostile_container_id_is_refused(string id)
    {
        var rt = Runtimes.Runc;
        var bundle = sb.Bundle("id", ["true"]);
        Figures.HostileCase("id", id, rt, () =>
        {
            Refusal.AssertCreateRefused(sb, rt, bundle, id, "invalid container id", []);
            Assert.That(Directory.EnumerateFileSystemEntries(sb.Dir).Select(Path.GetFileName),
                Is.EquivalentTo(new[] { "rootfs", "bundles", "logs", "spec-template" }.Where(e => Directory.Exists(Path.Combine(sb.Dir, e)))),
                "something was created beside the state dir");
        });
    }

    private static List<string> Listing(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories)
            .Select(p => File.Exists(p) ? $"{p} {new FileInfo(p).Length}" : p).Order().ToList();
}

/// <summary>Files an escaping archive would create or overwrite. Absent ones under /tmp or the sandbox are created
/// with random content (and removed again), so an escape that overwrites shows as well as one that creates;
/// host files (/etc/passwd) are only read; every other absent path must stay absent.</summary>
public sealed class Sentinels : IDisposable
{
    /// <summary>A sentinel as found before the create: absent, a file (its bytes) or a directory that was already
    /// there, e.g. a checkout under /tmp (its entries and mtime).</summary>
    private sealed record Seen(byte[]? Bytes, string[]? Entries, DateTime? Modified);

    private readonly Dictionary<string, Seen> before = [];
    private readonly List<string> made = [];

    public Sentinels(IEnumerable<string> paths)
    {
        foreach (var p in paths)
        {
            if (!File.Exists(p) && !Directory.Exists(p) && (p.StartsWith("/tmp/", StringComparison.Ordinal)))
            {
                Directory.CreateDirectory(Path.GetDirectoryName(p)!);
                File.WriteAllText(p, "sentinel " + Guid.NewGuid());
                made.Add(p);
            }
            before[p] = Look(p);
        }
    }

    private static Seen Look(string path) =>
        File.Exists(path) ? new Seen(File.ReadAllBytes(path), null, null)
        : Directory.Exists(path) ? new Seen(null, Directory.GetFileSystemEntries(path).Order(StringComparer.Ordinal).ToArray(),
            Directory.GetLastWriteTimeUtc(path))
        : new Seen(null, null, null);

    public void AssertUnchanged()
    {
        foreach (var (path, seen) in before)
        {
            if (seen.Bytes is { } bytes) Assert.That(File.ReadAllBytes(path), Is.EqualTo(bytes), $"{path} changed");
            else if (seen.Entries is { } entries)
            {
                var now = Look(path);
                Assert.That(now.Entries, Is.EqualTo(entries), $"{path} changed");
                Assert.That(now.Modified, Is.EqualTo(seen.Modified), $"{path} changed");
            }
            else Assert.That(File.Exists(path) || Directory.Exists(path), Is.False, $"{path} appeared");
        }
    }

    public void Dispose()
    {
        foreach (var p in made.Where(File.Exists)) File.Delete(p);
    }
}
