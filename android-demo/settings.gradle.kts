// The Outpost Android demo: the app, its plain-Kotlin view-models, and the Outpost Android
// library from bindings/android (built here as :bindings-android).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
        // rustls-platform-verifier's Kotlin component (org.rustls:rustls-platform-verifier), which
        // the Rust TLS verifier calls through JNI. Published as a Maven repository in the crate's
        // GitHub repository; its version must equal rustls-platform-verifier-android in Cargo.lock
        // (bindings/android/build.gradle.kts reads it from there).
        maven {
            url = uri("https://github.com/rustls/rustls-platform-verifier/raw/maven-archive/android-release-support/maven/")
            content { includeGroup("org.rustls") }
        }
    }
}

rootProject.name = "outpost-android-demo"

include(":app", ":viewmodels", ":bindings-jvm", ":bindings-android")
project(":bindings-android").projectDir = file("../bindings/android")
