// Outpost for Android: liboutpost_ffi.so for arm64-v8a, armeabi-v7a and x86_64 (jniLibs, from
// bindings/scripts/build-android.sh), the generated Kotlin bindings in Android mode
// (src/main/kotlin/io/outpost/outpost.kt, from the same script), and OutpostAndroid.init.
// Built inside the demo's Gradle build, whose version catalog it uses:
//   (cd android-demo && ./gradlew :bindings-android:assembleRelease)
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

// rustls-platform-verifier's Kotlin component must be the version its crate was built against:
// the version of rustls-platform-verifier-android in the workspace's Cargo.lock.
val rustlsPlatformVerifierVersion: Provider<String> =
    providers.fileContents(layout.projectDirectory.file("../../Cargo.lock")).asText.map { lock ->
        Regex("""name = "rustls-platform-verifier-android"\s+version = "([^"]+)"""")
            .find(lock)?.groupValues?.get(1)
            ?: error("rustls-platform-verifier-android is not in Cargo.lock")
    }

android {
    namespace = "io.outpost.android"
    compileSdk = libs.versions.compileSdk.get().toInt()

    defaultConfig {
        minSdk = libs.versions.minSdk.get().toInt()
        // R8 rules shipped to every app using the library (JNA, io.outpost, the TLS verifier).
        consumerProguardFiles("consumer-rules.pro")
        ndk { abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64") }
    }

    buildTypes {
        release {
            // A library is shrunk by the app that uses it (with consumer-rules.pro).
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

tasks.named("preBuild") {
    val generated = layout.projectDirectory.file("src/main/kotlin/io/outpost/outpost.kt").asFile
    val jniLibs = layout.projectDirectory.dir("src/main/jniLibs").asFile
    doFirst {
        check(generated.isFile && jniLibs.isDirectory) {
            "run bindings/scripts/build-android.sh first (it writes $generated and $jniLibs)"
        }
    }
}

dependencies {
    // The generated bindings call the library through JNA: the AAR carries libjnidispatch.so.
    api("net.java.dev.jna:jna:${libs.versions.jna.get()}@aar")
    // Suspend functions of the generated bindings.
    api(libs.kotlinx.coroutines.core)
    // Android-mode bindings annotate with @RequiresApi.
    implementation(libs.androidx.annotation)
    // Called by the Rust TLS verifier through JNI (org.rustls.platformverifier.CertificateVerifier).
    implementation("org.rustls:rustls-platform-verifier:${rustlsPlatformVerifierVersion.get()}")
}
