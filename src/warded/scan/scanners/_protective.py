"""Is a secrecy phrase about a credential value, or about what the tool does?

"Never show the access token to the user" keeps a credential out of view: it protects the user. "Keep this
secret from the user" or "do not tell the user about this step" hides an action or an instruction: that is
tool poisoning, whatever credential words stand nearby. The ``tool_metadata`` secrecy rules find the
phrase; :func:`protective_clause` decides whether the clause around it does nothing but keep a credential
value out of outputs, logs or the user's view.

A clause (the text between ``. ! ? ; : ,``, brackets or line breaks, extended over every boundary the match
itself crosses) is protective only when

* every word in it belongs to a closed vocabulary (six languages, accents stripped): negations, verbs that
  show, print, log, tell or write something, verbs that hide or mask, the user and other audiences, outputs
  and logs, credential nouns, articles, pronouns and prepositions; any other word (``this``, ``step``,
  ``upload``, ``about``, a tool name, a path, a number) makes it a finding;
* it names a credential (``password``, ``access token``, ``API key``, ``mot de passe``, ...);
* every verb that shows, prints or writes is negated in its conjunct ("never show or log the token"; "do not
  tell the user and print the password" is not protective: ``print`` after ``and`` is an order).

A clause longer than :data:`MAX_WORDS` words is never protective. Matching is word-set lookup over one
bounded clause, so it takes linear time.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_CHARS", "MAX_WORDS", "protective_clause"]

#: A clause longer than this (characters or words) is never judged protective.
MAX_CHARS = 400
MAX_WORDS = 40

#: Characters that end a clause.
_BOUNDARY = frozenset(".!?;:,\n\r()[]<>{}|\u2022\u2014\u2013")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# fmt: off
#: Negations (and "nor"-like words, which carry a negation on).
_NEG = _words("""
    not never no nor neither ni jamas nunca nicht nie niemals kein keine keinen keinem keinesfalls
    ne n pas jamais aucun aucune nao nem non mai
""")
#: Negations that follow the verb they negate ("zeige dem Benutzer das Passwort nicht").
_LATE_NEG = _words("nicht nie niemals kein keine keinen keinem keinesfalls")
#: Conjunctions that start a new conjunct: a verb after them needs its own negation.
_AND = _words("and but then also y pero e und aber dann sowie et mais puis ma poi mas")
#: Conjunctions that carry the negation on ("never show or log").
_OR = _words("or o u oder ou oppure")
#: Verbs that show, print, tell, write or hand over a value (all forms); negated, they protect it.
_SHOW = _words("""
    show shows shown showing showed display displays displayed displaying print prints printed printing
    log logs logged logging output outputs outputted outputting echo echoes echoed echoing reveal reveals
    revealed revealing expose exposes exposed exposing disclose discloses disclosed disclosing tell tells
    telling told mention mentions mentioned mentioning include includes included including return returns
    returned returning write writes wrote written writing repeat repeats repeated repeating store stores
    stored storing share shares shared sharing leak leaks leaked leaking render renders rendered rendering
    persist persists persisted record records recorded see sees seen view views viewed
    muestres muestre mostrar mostrarle muestra reveles revele revelar digas diga decir decirle imprimas imprima
    imprimir registres registre registrar incluyas incluya incluir escribas escriba escribir compartas
    comparta compartir devuelvas devuelva devolver menciones mencione mencionar expongas exponga exponer
    zeige zeig zeigen zeigt anzeigen angezeigt gib gibt geben ausgeben ausgegeben nenne nennen verrate
    verraten sage sag sagen protokolliere protokollieren protokolliert schreibe schreiben geschrieben teile
    teilen geteilt offenlegen preisgeben drucke drucken erwahne erwahnen logge loggen geloggt speichere
    speichern gespeichert mitteilen
    affiche affichez afficher montre montrez montrer revele revelez reveler dis dites dire communique
    communiquez communiquer imprime imprimez imprimer journalise journalisez journaliser ecris ecrivez ecrire
    inclus incluez inclure partage partagez partager divulgue divulguez divulguer mentionne mentionnez
    mentionner renvoie renvoyez renvoyer expose exposez enregistre enregistrez enregistrer
    mostre mostra revelar exiba exibir imprima registre inclua escreva escrever compartilhe compartilhar
    divulgue divulgar exponha expor mencione
    mostrare mostrarla mostrarlo mostrargli mostri rivelare rivelarla rivelarlo riveli dirla dica dici stampare
    stampi stampa registrare includere includa scrivere scriva condividere condivida divulgare comunicare
    comunichi menzionare menzioni esporre visualizzare visualizzi
""")
#: Verbs and adjectives that hide or mask a value ("keep the API key secret", "mask the password").
_HIDE = _words("""
    hide hides hidden hiding conceal conceals concealed concealing mask masks masked masking redact redacts
    redacted redacting keep keeps kept keeping secret private confidential obfuscate obfuscated
    oculta ocultar ocultale esconde esconder manten mantener mantenga secreto secreta privado privada oculto
    verberge verbergen verborgen halte halten geheim privat maskiere maskieren maskiert
    cache cachez cacher cachee masque masquez masquer garde gardez garder secrete prive privee
    oculte esconda mantenha manter sigiloso sigilosa
    nascondi nascondere nasconda mantieni mantenere maschera mascherare segreto segreta privato privata nascosto
""")
#: Whom a value is kept from.
_AUDIENCE = _words("""
    user users human humans operator operators customer customers anyone anybody someone nobody everyone
    people person third party parties others other you yourself them him her
    usuario usuaria usuarios nadie alguien cliente clientes terceros
    benutzer benutzerin nutzer nutzerin anwender anwenderin kunden kunde jemandem niemandem dritten
    utilisateur utilisatrice utilisateurs personne quiconque tiers
    utilizador utilizadores ninguem alguem terceiros
    utente utenti nessuno qualcuno terzi
""")
#: Where a value would show up.
_SCOPE = _words("""
    log logs logfile logfiles logging output outputs response responses reply replies answer answers message
    messages chat conversation transcript transcripts screen ui console terminal stdout stderr error errors
    trace traces debug telemetry result results text plain plaintext clear cleartext form file files anywhere
    registros registro salida respuesta respuestas mensaje mensajes pantalla texto plano archivo
    protokoll protokolle protokollen protokolldatei ausgabe antwort antworten nachricht nachrichten
    bildschirm klartext datei
    journaux journal sortie reponse reponses ecran clair fichier
    saida resposta respostas mensagem mensagens tela ecra arquivo
    registri uscita risposta risposte messaggio messaggi schermo chiaro
""")
#: Credential nouns (with compounds joined by :data:`_COMPOUNDS`).
_CREDENTIAL = _words("""
    password passwords passphrase passphrases passcode passcodes pin pins otp otps token tokens credential
    credentials key keys apikey apikeys cookie cookies secrets clientsecret sharedsecret
    contrasena contrasenas clave claves credencial credenciales
    passwort passworter kennwort kennworter schlussel zugangsdaten anmeldedaten
    motdepasse motsdepasse jeton jetons cle cles identifiants
    senha senhas chave chaves credenciais
    chiave chiavi credenziali
""")
#: Words that carry no content here: articles, pronouns, prepositions, auxiliaries, modifiers.
_FUNCTION = _words("""
    the a an your their its his her my our any all every each of to in into on onto from with within at for
    by as out it they itself themselves either both ever even under circumstances case please must should shall
    will may might can could would do does did is are be been being gets get ca wo s raw full actual real
    current new old value values string strings api access auth bearer refresh session private signing ssh
    encryption client user's
    el la los las lo le les al de del en su sus tu tus un una se ningun ninguna ningunos jamas
    der die das den dem des ein eine einem einen ihr ihre ihren ihrem sein seine seinen seinem dein deine
    deinen deinem im an aus auf es sie wird werden darf durfen soll sollen muss mussen bitte zu jemals
    le la les l au aux d du des un une votre vos ton ta tes son sa ses leur leurs en dans y lui
    o os as ao aos da do das dos em na no nas nos um uma sua seu suas seus lhe
    il lo i gli all alla allo agli alle al di del della dei degli nel nella nei tuo tua tuoi suo sua loro
""")
# fmt: on
#: Function words after which a word such as ``log`` or ``output`` is a verb, not a place.
_AUXILIARY = _words("""
    please must should shall will may might can could would do does did is are be been being gets get ca wo
    you bitte darf durfen soll sollen muss mussen wird werden es sie se lo le la les lui lhe
""")

#: Multi-word credential nouns joined into one word before the clause is split.
_COMPOUNDS = (
    (re.compile(r"\bmots? de passe\b"), "motdepasse"),
    (re.compile(r"\b(?:client|shared|app|application|webhook|signing|api|oauth) secrets?\b"), "clientsecret"),
    (re.compile(r"\bshared secret\b"), "sharedsecret"),
)
_NOT_CONTRACTION = re.compile(r"n['\u2019\u02bc]t\b")
_WORD = re.compile(r"[^\W_]+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def clause_bounds(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The clause around ``text[start:end]``: from the boundary before ``start`` to the one after ``end``,
    or ``None`` when it is longer than :data:`MAX_CHARS` characters."""
    if end - start > MAX_CHARS:
        return None
    lo = start
    while lo > 0 and text[lo - 1] not in _BOUNDARY:
        lo -= 1
        if end - lo > MAX_CHARS:
            return None
    hi = end
    while hi < len(text) and text[hi] not in _BOUNDARY:
        hi += 1
        if hi - lo > MAX_CHARS:
            return None
    return lo, hi


def protective_clause(clause: str) -> bool:
    """True if ``clause`` only keeps a credential value out of view (see the module docstring)."""
    if len(clause) > MAX_CHARS:
        return False
    folded = _NOT_CONTRACTION.sub(" not", _fold(clause))
    for pattern, joined in _COMPOUNDS:
        folded = pattern.sub(joined, folded)
    words = _WORD.findall(folded)
    if not words or len(words) > MAX_WORDS:
        return False
    credential = verb = False
    negated = False  # a negation seen in the current conjunct
    pending = False  # a show-verb in the current conjunct not (yet) negated
    previous = ""
    for word in words:
        # "in the logs", "to the output": a place, not a verb
        noun = word in _SCOPE and previous in _FUNCTION and previous not in _AUXILIARY
        previous = word
        if word in _NEG:
            negated = True
            pending = pending and word not in _LATE_NEG
        elif word in _AND:
            if pending:
                return False
            negated = False
        elif word in _CREDENTIAL:
            credential = True
        elif word in _SHOW and not noun:
            verb = True
            pending = pending or not negated
        elif word in _HIDE:
            verb = True
        elif word in _OR or word in _AUDIENCE or word in _SCOPE or word in _FUNCTION:
            continue
        else:
            return False
    return credential and verb and not pending
