using System.Security.Cryptography;
using Newtonsoft.Json.Linq;

namespace Csshim.Reliability.Tests;

/// <summary>
/// csshim's own annotations are csshim's: `dev.csshim.rootfs.original`, `dev.csshim.staging` and
/// `dev.csshim.tar.rootfs.upper` are written by csshim into a config.json it rewrites, and a spec that arrives with
/// one is honoured only when it is that very rewrite for the staging csshim holds. A tenant who could set
/// `dev.csshim.rootfs.original` would choose the host directory csshim (root) mounts as the container's lower layer.
/// Every refusal here is made before the runtime is called: a spy in the runtime's place proves nothing was forwarded.
/// </summary>
[TestFixture]
public class TrustBoundaryTests : SandboxFixture
{
    private const string OriginalKey = "dev.csshim.rootfs.original";
    private const string StagingKey = "dev.csshim.staging";
    private const string UpperKey = "dev.csshim.tar.rootfs.upper";
    private static readonly string[] OwnKeys = [OriginalKey, StagingKey, UpperKey];
    private static readonly string[] Allow = ["--allow-rootfs-tar-annotation"];

    private static string SetByCsshim(string key) => $"annotation {key} is set by csshim, not by callers";

    // ---- each key alone and in combinations, with and without the allow flag ----

    private static readonly string[][] Combinations =
    [
        [OriginalKey], [StagingKey], [UpperKey], [OriginalKey, StagingKey], [StagingKey, UpperKey], [OriginalKey, UpperKey],
        [OriginalKey, StagingKey, UpperKey],
    ];

    public static IEnumerable<TestCaseData> OwnKeyCases()
    {
        static string Name(string[] keys) => string.Join("+", keys.Select(k => k["dev.csshim.".Length..].Replace(".", "_")));
        // (allow flag, archive annotation too): the tenant asking for an archive, the same without the operator's
        // switch (csshim's own keys must be refused first, not the switch), and a plain bundle (always staged).
        var modes = new (bool Allow, bool Archive, string Name)[] { (true, true, "allowed"), (false, true, "not_allowed"), (false, false, "no_archive") };
        foreach (var keys in Combinations)
            foreach (var mode in modes)
                yield return new TestCaseData(RuntimeUnderTest.Runc, keys, mode.Allow, mode.Archive).SetName($"Own_key_{Name(keys)}_{mode.Name}_runc");
        foreach (var key in OwnKeys)
            yield return new TestCaseData(RuntimeUnderTest.Runsc2022, new[] { key }, true, true).SetName($"Own_key_{Name([key])}_allowed_runsc-2022");
    }

    [TestCaseSource(nameof(OwnKeyCases))]
    public void Own_key_in_a_callers_spec_is_refused(string runtime, string[] keys, bool allow, bool archive)
    {
        var spy = SpyRuntime.Over(sb, Runtimes.Named(runtime));
        var tar = sb.Archive("a", Sandbox.Text("dir/file", "restored"));
        var annotations = keys.ToDictionary(k => k, k => PlausibleValue(k, tar));
        if (archive) annotations[Sandbox.TarAnnotation] = tar;
        var bundle = sb.Bundle("own", ["cat", "/dir/file"], annotations);
        var first = OwnKeys.First(keys.Contains);
        Figures.HostileCase("own-annotation", string.Join("+", keys), spy.Real, () =>
            Refusal.AssertRefusedUnforwarded(sb, spy, ["create", "--bundle", bundle, "own"], bundle, "own", SetByCsshim(first), 1,
                allow ? Allow : []));
    }

    /// <summary>Values a forger would pick: the image rootfs, a path that looks like a staging, the archive.</summary>
    private string PlausibleValue(string key, string tar) => key switch
    {
        OriginalKey => sb.Rootfs,
        StagingKey => Path.Combine(sb.StateDir, "0123456789abcdef", "own"),
        _ => tar,
    };

    // ---- the original hole: a host directory as the container's lower layer ----

    [TestCase("runc"), TestCase("runsc-2022"), TestCase("runsc-2024")]
    public void Original_root_naming_a_host_dir_never_becomes_the_lower_layer(string runtime)
    {
        var spy = SpyRuntime.Over(sb, Runtimes.Named(runtime));
        using var host = new SentinelDir(Path.Combine(sb.Dir, "host-secret"));
        var bundle = sb.Bundle("hole", ["sh", "-c", $"cat /{SentinelDir.FileName}; echo pwned > /pwned"], new Dictionary<string, string>
        {
            [OriginalKey] = host.Dir,
            [StagingKey] = Path.Combine(sb.StateDir, "0123456789abcdef", "hole"),
        });
        var r = Refusal.AssertRefusedUnforwarded(sb, spy, ["create", "--bundle", bundle, "hole"], bundle, "hole", SetByCsshim(OriginalKey), 1, Allow);
        Assert.Multiple(() =>
        {
            Assert.That(sb.RuntimeKnows(spy.Real, "hole"), Is.False, "the container exists");
            Assert.That(r.Stdout, Does.Not.Contain(host.Secret), "the container printed the host dir's file");
            host.AssertUntouched();
        });
    }

    /// <summary>A staging that csshim really left (killed after rewriting config.json) is the one case where a spec
    /// with csshim's keys is honoured; a spec that only resembles that rewrite — a copy in another bundle, or the
    /// rewrite edited to name a host dir as the lower layer — must not be taken for it.</summary>
    [TestCase("runc", "other-bundle-exact-copy"), TestCase("runc", "other-bundle-host-lower"), TestCase("runc", "same-bundle-host-lower")]
    [TestCase("runsc-2022", "other-bundle-host-lower"), TestCase("runsc-2022", "same-bundle-host-lower")]
    public void Spec_resembling_csshims_rewrite_of_a_stale_staging_is_refused(string runtime, string forgery)
    {
        var rt = Runtimes.Named(runtime);
        var archive = sb.Archive("a", Sandbox.Text("dir/file", "restored"));
        var bundle = sb.Bundle("stale", ["cat", "/dir/file"], ArchivePolicyTests.Annotated(archive));
        var id = sb.Track(rt, "stale");
        var crash = sb.Shim(rt, ["create", "--bundle", bundle, id], Allow, new Dictionary<string, string> { [FaultPointVariable] = "config-rewritten" });
        Assert.That(crash.Status, Is.EqualTo(KilledStatus), $"the fault point did not kill csshim: {crash}");
        var staging = sb.StagingOf(id);
        var rewrite = JObject.Parse(File.ReadAllText(Path.Combine(bundle, "config.json")));
        Assert.That((string?)rewrite["root"]!["path"], Is.EqualTo(Path.Combine(staging, "merged")), "precondition: csshim's rewrite was left behind");

        using var host = new SentinelDir(Path.Combine(sb.Dir, "host-secret"));
        if (forgery.EndsWith("host-lower", StringComparison.Ordinal)) rewrite["annotations"]![OriginalKey] = host.Dir;
        var forged = forgery.StartsWith("same-bundle", StringComparison.Ordinal) ? bundle : Path.Combine(sb.Dir, "bundles", "forged");
        Directory.CreateDirectory(forged);
        File.WriteAllText(Path.Combine(forged, "config.json"), rewrite.ToString());
        var forgedConfig = File.ReadAllBytes(Path.Combine(forged, "config.json"));
        var record = File.ReadAllBytes(Path.Combine(staging, "state.json"));
        var mounts = HostState.MountsUnder(sb.Dir);
        var spy = SpyRuntime.Over(sb, rt);

        var r = sb.Shim(spy.Runtime, ["create", "--bundle", forged, id], Allow);
        Assert.Multiple(() =>
        {
            Assert.That(r.Status, Is.EqualTo(1), $"the forged create: {r}");
            Assert.That(r.Stderr, Does.Contain(SetByCsshim(OriginalKey)));
            Assert.That(spy.Calls().Select(c => c.ToString()), Is.Empty, "the runtime was called");
            Assert.That(File.ReadAllBytes(Path.Combine(forged, "config.json")), Is.EqualTo(forgedConfig), "the forged config.json changed");
            Assert.That(File.ReadAllBytes(Path.Combine(staging, "state.json")), Is.EqualTo(record), "the stale staging's record changed");
            Assert.That(HostState.MountsUnder(sb.Dir), Is.EqualTo(mounts), "mounts changed");
            Assert.That(sb.RuntimeKnows(rt, id), Is.False, "the container exists");
            host.AssertUntouched();
        });
        var delete = sb.Shim(rt, ["delete", "--force", id]);
        Assert.That(delete.Status, Is.Zero, delete.ToString());
        sb.AssertClean("after the stale staging's delete");
    }

    // ---- another container's merged dir ----

    [TestCase("runc", "forged"), TestCase("runsc-2022", "forged"), TestCase("runsc-2024", "forged")]
    [TestCase("runc", "victim"), TestCase("runsc-2022", "victim")]
    public void Forged_spec_on_another_containers_merged_dir_is_refused(string runtime, string forgedId)
    {
        var rt = Runtimes.Named(runtime);
        var secret = $"the victim's restored data {Guid.NewGuid():N}";
        var victimBundle = sb.Bundle("victim", ["sleep", "1000"], ArchivePolicyTests.Annotated(sb.Archive("victim", Sandbox.Text("dir/file", secret))));
        Lifecycle.Start(sb, rt, victimBundle, "victim", Allow);
        var victimConfig = File.ReadAllBytes(Path.Combine(victimBundle, "config.json"));
        var victimSpec = JObject.Parse(File.ReadAllText(Path.Combine(victimBundle, "config.json")));
        var merged = (string)victimSpec["root"]!["path"]!;
        Assert.That(merged, Is.EqualTo(Path.Combine(sb.StagingOf("victim"), "merged")), "precondition: the victim's root.path is its merged dir");

        // csshim's keys as the victim's config.json has them, root.path on the victim's overlay.
        var annotations = ((JObject)victimSpec["annotations"]!).Properties()
            .Where(p => p.Name.StartsWith("dev.csshim.", StringComparison.Ordinal)).ToDictionary(p => p.Name, p => (string)p.Value!);
        Assert.That(annotations.Keys, Does.Contain(OriginalKey), "precondition: the victim's rewrite carries csshim's keys");
        var forged = sb.Bundle("forged", ["cat", "/dir/file"], annotations);
        SetRootPath(forged, merged);
        var forgedConfig = File.ReadAllBytes(Path.Combine(forged, "config.json"));
        var mounts = HostState.MountsUnder(sb.Dir);
        var spy = SpyRuntime.Over(sb, rt);

        sb.Track(rt, forgedId);
        var r = sb.Shim(spy.Runtime, ["create", "--bundle", forged, forgedId], Allow);
        Assert.Multiple(() =>
        {
            Assert.That(r.Status, Is.EqualTo(1), $"the forged create: {r}");
            Assert.That(r.Stderr, Does.Contain(SetByCsshim(OriginalKey)));
            Assert.That(r.Stdout, Does.Not.Contain(secret), "the forged container read the victim's rootfs");
            Assert.That(spy.Calls().Select(c => c.ToString()), Is.Empty, "the runtime was called");
            Assert.That(File.ReadAllBytes(Path.Combine(forged, "config.json")), Is.EqualTo(forgedConfig), "the forged config.json changed");
            Assert.That(sb.Stagings().Select(Path.GetFileName), Is.EqualTo(new[] { "victim" }), "stagings");
            Assert.That(HostState.MountsUnder(sb.Dir), Is.EqualTo(mounts), "mounts changed");
            Assert.That(sb.StatusOf(rt, "victim"), Is.EqualTo("running"), "the victim container");
            Assert.That(File.ReadAllBytes(Path.Combine(victimBundle, "config.json")), Is.EqualTo(victimConfig), "the victim's config.json changed");
            if (forgedId != "victim") Assert.That(sb.RuntimeKnows(rt, forgedId), Is.False, "the forged container exists");
        });
        Lifecycle.DeleteAndAssertClean(sb, rt, "victim");
    }

    private static void SetRootPath(string bundle, string rootPath)
    {
        var config = Path.Combine(bundle, "config.json");
        var spec = JObject.Parse(File.ReadAllText(config));
        spec["root"]!["path"] = rootPath;
        File.WriteAllText(config, spec.ToString());
    }

    // ---- unknown dev.csshim.* keys; the digest pins stay the tenant's ----

    public static IEnumerable<TestCaseData> UnknownKeyCases() =>
        from rt in new[] { RuntimeUnderTest.Runc, RuntimeUnderTest.Runsc2022 }
        from key in new[] { "dev.csshim.foo", "dev.csshim.tar.rootfs.upper.sha265", "dev.csshim.rootfs.original.x" }
        from archive in new[] { true, false }
        select new TestCaseData(rt, key, archive).SetName($"Unknown_key_{key.Replace('.', '_')}{(archive ? "_with_archive" : "")}_{rt}");

    [TestCaseSource(nameof(UnknownKeyCases))]
    public void Unknown_csshim_key_is_refused(string runtime, string key, bool archive)
    {
        var spy = SpyRuntime.Over(sb, Runtimes.Named(runtime));
        var annotations = new Dictionary<string, string> { [key] = new string('0', 64) };
        if (archive) annotations[Sandbox.TarAnnotation] = sb.Archive("a", Sandbox.Text("dir/file", "restored"));
        var bundle = sb.Bundle("unknown", ["cat", "/dir/file"], annotations);
        Refusal.AssertRefusedUnforwarded(sb, spy, ["create", "--bundle", bundle, "unknown"], bundle, "unknown",
            $"annotation {key} is not one csshim knows", 1, Allow);
    }

    public static IEnumerable<TestCaseData> PinCases() =>
        from rt in new[] { RuntimeUnderTest.Runc, RuntimeUnderTest.Runsc2022 }
        from perName in new[] { false, true }
        select new TestCaseData(rt, perName).SetName($"Digest_pin_{(perName ? "per_container_name" : "bare")}_restores_{rt}");

    [TestCaseSource(nameof(PinCases))]
    public void Digest_pin_stays_the_tenants_and_works(string runtime, bool perName)
    {
        var rt = Runtimes.Named(runtime);
        var archive = sb.Archive("pinned", Sandbox.Text("dir/file", "pinned content"));
        var bundle = sb.Bundle("pinned", ["cat", "/dir/file"], PinnedAnnotations(archive, perName, Digest(archive)));
        Assert.That(Lifecycle.RunToEnd(sb, rt, bundle, "pinned", Allow), Is.EqualTo("pinned content"));
        Lifecycle.DeleteAndAssertClean(sb, rt, "pinned");
    }

    /// <summary>The per-name pin is really read: a wrong one refuses the archive it pins.</summary>
    [TestCase("runc", false), TestCase("runc", true), TestCase("runsc-2022", true)]
    public void Digest_pin_that_does_not_match_is_refused(string runtime, bool perName)
    {
        var spy = SpyRuntime.Over(sb, Runtimes.Named(runtime));
        var archive = sb.Archive("pinned", Sandbox.Text("dir/file", "pinned content"));
        var bundle = sb.Bundle("pinned", ["cat", "/dir/file"], PinnedAnnotations(archive, perName, new string('0', 64)));
        Refusal.AssertRefusedUnforwarded(sb, spy, ["create", "--bundle", bundle, "pinned"], bundle, "pinned", "is pinned", 1, Allow);
    }

    private static Dictionary<string, string> PinnedAnnotations(string archive, bool perName, string digest) => perName
        ? new()
        {
            ["io.kubernetes.cri.container-name"] = "web",
            [Sandbox.TarAnnotation + ".web"] = archive,
            [Sandbox.DigestAnnotation + ".web"] = digest,
        }
        : new() { [Sandbox.TarAnnotation] = archive, [Sandbox.DigestAnnotation] = digest };

    private static string Digest(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));

    // ---- a stale config.json csshim really rewrote still re-creates ----

    private const string FaultPointVariable = "CSSHIM_FAULT_POINT";
    private const int KilledStatus = 128 + 9;

    /// <summary>csshim killed right after it rewrote config.json (the rewrite and the staging stay behind), or right
    /// after it handed the create to the runtime (and the client then removed the container from the runtime alone):
    /// the next create of the same bundle must take the rewrite for csshim's own, stage afresh from the original, and
    /// the delete after it must put the original config.json back byte for byte.</summary>
    [TestCase("runc", "config-rewritten"), TestCase("runsc-2022", "config-rewritten"), TestCase("runsc-2024", "config-rewritten")]
    [TestCase("runc", "forwarding"), TestCase("runsc-2022", "forwarding"), TestCase("runsc-2024", "forwarding")]
    public void Stale_config_csshim_rewrote_still_recreates(string runtime, string point)
    {
        var rt = Runtimes.Named(runtime);
        var archive = sb.Archive("stale", Sandbox.Text("dir/file", "restored after a crash"));
        var bundle = sb.Bundle("stale", ["cat", "/dir/file"], ArchivePolicyTests.Annotated(archive));
        var config = Path.Combine(bundle, "config.json");
        var original = File.ReadAllBytes(config);
        var id = sb.Track(rt, "stale");

        var crash = sb.Shim(rt, ["create", "--bundle", bundle, id], Allow, new Dictionary<string, string> { [FaultPointVariable] = point });
        Assert.That(crash.Status, Is.EqualTo(KilledStatus), $"the fault point {point} did not kill csshim: {crash}");
        HostState.WaitUntil(() => HostState.ProcessesWith("create", id).Count == 0, TimeSpan.FromSeconds(60), "the orphaned runtime create");
        if (sb.RuntimeKnows(rt, id)) Assert.That(sb.Runtime(rt, "delete", "--force", id).Status, Is.Zero, "the client's own delete");
        Assert.Multiple(() =>
        {
            Assert.That(File.ReadAllText(config), Does.Contain(StagingKey), "precondition: csshim's rewrite of config.json was left behind");
            Assert.That(sb.Stagings(), Has.Count.EqualTo(1), "precondition: the staging was left behind");
        });

        Assert.That(Lifecycle.RunToEnd(sb, rt, bundle, id, Allow), Is.EqualTo("restored after a crash"), "the re-created container's view of the archive");
        var delete = sb.Shim(rt, ["delete", id]);
        Assert.That(delete.Status, Is.Zero, delete.ToString());
        Assert.That(File.ReadAllBytes(config), Is.EqualTo(original), "config.json after the delete is not the original");
        sb.AssertClean("after the re-create and delete");
    }
}

/// <summary>A host directory with a file of random content that no container may see or change.</summary>
public sealed class SentinelDir : IDisposable
{
    public const string FileName = "sentinel";
    public string Dir { get; }
    public string Secret { get; } = $"host secret {Guid.NewGuid():N}";
    private readonly List<string> listing;
    private readonly DateTime mtime;

    public SentinelDir(string dir)
    {
        Dir = dir;
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, FileName), Secret);
        listing = Listing();
        mtime = Directory.GetLastWriteTimeUtc(dir);
    }

    private List<string> Listing() =>
        Directory.EnumerateFileSystemEntries(Dir, "*", SearchOption.AllDirectories).Select(p => $"{p} {File.GetLastWriteTimeUtc(p):O}").Order().ToList();

    public void AssertUntouched()
    {
        Assert.That(Listing(), Is.EqualTo(listing), $"entries of {Dir} changed");
        Assert.That(File.ReadAllText(Path.Combine(Dir, FileName)), Is.EqualTo(Secret), "the sentinel file changed");
        Assert.That(Directory.GetLastWriteTimeUtc(Dir), Is.EqualTo(mtime), $"{Dir} was written to");
        Assert.That(HostState.MountsUnder(Dir), Is.Empty, $"something is mounted on {Dir}");
    }

    public void Dispose()
    {
        if (HostState.MountsUnder(Dir).Count == 0 && Directory.Exists(Dir)) Directory.Delete(Dir, recursive: true);
    }
}
