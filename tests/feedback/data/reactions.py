"""Hand-written user reactions of the labelled set, by what they express, with the assistant's
next reply where the conversation goes on."""

# rejects or corrects the answer (implicit_disagreement)
DISAGREE = [
    "That's wrong.",
    "that's not what I asked",
    "No, that's incorrect.",
    "this answer is just false",
    "That didn't work.",
    "Tried it, doesn't work.",
    "you misunderstood my question",
    "Not quite, I need the total for the whole year.",
    "Nope. Wrong again.",
    "That's not right at all",
    "I followed the steps and it still fails",
    "wrong answer",
    "hmm no, you got that backwards",
    "That's not true, I checked yesterday.",
    "Are you sure? That sounds off.",
    "this is outdated information",
    "the correct answer is 42, not 36",
    "That isn't what I meant.",
    "no, I said the second option, not the first",
    "You made that up, there is no such setting.",
    "Incorrect, please check again",
    "That makes no sense.",
    "nope, same error as before",
    "that can't be right",
    "It gave me a syntax error.",
    "you ignored the part about the deadline",
    "No. The meeting is on Tuesday, not Thursday.",
    "Your numbers don't add up.",
]
# shows frustration (implicit_frustration), not a rejection of the content
FRUSTRATED = [
    "This is useless.",
    "WHY CAN'T YOU JUST ANSWER THE QUESTION",
    "let me talk to a human",
    "can I speak to a real person please",
    "are you even listening??",
    "omg how many times do I have to say it",
    "what?! seriously?!",
    "I already told you that twice",
    "this bot is so stupid",
    "for the last time, I need my invoice",
    "ugh, waste of time",
    "Agent.",
    "I'M SO DONE WITH THIS APP",
    "get me a manager",
    "You're no help at all",
    "this is ridiculous",
    "???",
    "I give up",
    "are you kidding me??",
    "transfer me to support now",
]
# both at once
BOTH = [
    "That's WRONG!!! Are you even reading what I write?",
    "wrong again, this is useless",
    "No!! That's not what I asked, let me talk to a person",
    "STILL NOT WORKING. I GIVE UP",
    "That's incorrect, you are the worst assistant",
    "It doesn't work, this is ridiculous",
]
# polite declines and closings: not disagreement, not frustration
POLITE = [
    ("no thanks, that's all", "You're welcome, have a good day!"),
    ("No worries, thanks anyway", "Happy to help."),
    ("nope, all good", "Great, take care!"),
    ("No, that's everything. Thank you!", "Glad I could help."),
    ("no need, I'm fine", "Alright, enjoy your day."),
    ("Nah, I'm all set", "Perfect."),
    ("no problem, thanks for checking", "Anytime!"),
    ("No, that's it for today", "Have a great evening."),
]
ENTHUSIASM = [
    ("Great!!!", "Glad it helped!"),
    ("THANK YOU SO MUCH", "You're very welcome!"),
    ("Perfect, that worked!!", "Happy to hear it."),
    ("wow that was fast!!", "Enjoy!"),
    ("Amazing, exactly what I needed!!!", "Great to hear!"),
    ("YES! finally!!", "Glad it's sorted."),
    ("awesome, thanks!!!!", "Anytime."),
    ("Love it!!", "Happy to help."),
    ("ok cool", "Great."),
    ("Brilliant, cheers", "You're welcome."),
]
THANKS = [
    "thanks!",
    "Thank you, that's helpful.",
    "great, thanks a lot",
    "perfect, cheers",
    "got it, thank you",
    "thx",
    "that worked, thanks",
    "Super, appreciate it.",
]
# assistant replies that fail the user
REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I don't have access to that information.",
    "Unfortunately I'm unable to look that up right now.",
    "As an AI, I cannot provide that.",
    "I'm not able to answer questions about accounts.",
    "Sorry, I couldn't find anything about that.",
    "I don't know.",
    "I'm afraid that's outside what I can do.",
]
# an answer that misses the point without saying so (rephrase without a visible failure)
OFF_TOPIC = [
    "Here are some general tips: stay organised and check our help centre for more articles.",
    "Thanks for your message! Our team is always improving the product.",
    "There are many factors to consider, and it depends on your situation.",
    "You can find more information on our website.",
]
# replies to a frustrated or disagreeing user
APOLOGY = [
    "I'm sorry about that. Let me try again: here is the corrected information.",
    "Apologies for the confusion, here is an updated answer.",
    "Sorry! Connecting you with our support team now.",
    "I understand. Here is what I found instead.",
]
OPEN_QUESTIONS = [
    "Could you tell me which account this is about?",
    "Which version are you using?",
    "Can you share the exact error message?",
    "What date do you need it for?",
]
# contradicts the answer by reporting what happened or what is true (implicit_disagreement),
# mostly without the words "wrong" or "incorrect"
FACTUAL = [
    "I did exactly that and nothing changed.",
    "there's no such button on my screen",
    "that option doesn't exist in my version",
    "it's still slow after doing all of that",
    "still the same problem",
    "that's impossible, I checked twice",
    "no that's the old version, the new one is different",
    "that's bad advice",
    "the result came out completely different",
    "my manager says otherwise",
    "the official site says something else",
    "hmm, I don't think so",
    "I don't think that's correct",
    "that's the opposite of what the docs say",
    "you're thinking of something else",
    "that was last year's rule",
    "it says 404 when I open that link",
    "I tried, nothing happens",
]
# statements after an answer that use the same words without rejecting anything
NEUTRAL = [
    ("Still deciding, but that helps.", "Take your time."),
    ("There's no rush on this, I'll do it next week.", "Sounds good."),
    ("no I haven't tried that yet, will do tonight", "Let me know how it goes."),
    ("I don't think I need anything else", "Alright, have a good day."),
    ("Not yet, I'll try it after lunch", "Sure."),
    ("ok, that's different from what I expected but makes sense", "Glad it's clearer."),
    ("no, I was just curious", "Happy to explain."),
    ("Right, I'll check the docs as well", "Good idea."),
]
